"""Query parameters declared as one pydantic model, parsed in one pass.

FastAPI reads a query model field by field (aliases, "is it a sequence?", a multidict lookup,
per field and per request) before pydantic validates it: for the runs list's thirty fields
that was a third of the request's CPU (docs/performance.md, "Where the time goes"). The route
keeps declaring ``query: Annotated[Model, Query()]`` (the OpenAPI document comes from that
declaration, unchanged); :func:`with_query_models_parsed` gives the request handler a copy of
the route's dependant where each such model is a dependency that builds the model's input from
the query string in one pass over what was sent, with FastAPI's meaning: a field whose type is
a list takes every value of its parameter, any other the last one; parameters the model does
not know go to pydantic, which refuses them (``extra="forbid"``); errors are located under
``query`` as FastAPI locates them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Query
from pydantic import BaseModel, ValidationError

QueryParser = Callable[[Request], Coroutine[Any, Any, BaseModel]]


def with_query_models_parsed(dependant: Dependant) -> Dependant:
    """``dependant`` with its query models parsed by :func:`query_model_parser`."""
    models = [
        (field, model)
        for field in dependant.query_params
        if isinstance(field.field_info, Query)
        and isinstance(model := field.field_info.annotation, type)
        and issubclass(model, BaseModel)
    ]
    if not models:
        return dependant
    parsed = {field.name for field, _ in models}
    return dataclasses.replace(
        dependant,
        query_params=[field for field in dependant.query_params if field.name not in parsed],
        dependencies=[
            *dependant.dependencies,
            *(
                get_dependant(path=dependant.path or "", call=query_model_parser(model), name=name)
                for name, model in ((field.name, model) for field, model in models)
            ),
        ],
    )


def query_model_parser(model: type[BaseModel]) -> QueryParser:
    """A dependency that validates ``model`` from the request's query string."""
    # The parameter names (aliases where set) whose field takes every value sent.
    names = {field.alias or name: field for name, field in model.model_fields.items()}
    one = frozenset(name for name, field in names.items() if not _takes_many(field.annotation))

    async def parse(request: Request) -> BaseModel:
        received: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in one:
                received[key] = value  # the last one, as FastAPI reads it
            else:
                received.setdefault(key, []).append(value)
        for key in received.keys() - names.keys():
            # Not the model's: refused by pydantic, shown as sent.
            if len(values := received[key]) == 1:
                received[key] = values[0]
        try:
            return model.model_validate(received)
        except ValidationError as error:
            errors = error.errors(include_url=False)
            raise RequestValidationError(
                [{**detail, "loc": ("query", *detail["loc"])} for detail in errors]
            ) from None

    return parse


def _takes_many(annotation: Any) -> bool:
    """Whether a field of this type takes every value of its parameter (a list, or an
    optional one)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_many(argument) for argument in typing.get_args(annotation))
    return origin in (list, set, frozenset, tuple) or annotation in (list, set, frozenset, tuple)
