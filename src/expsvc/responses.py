"""JSON answers built straight from table rows, for the hot read paths.

A read model validated from each row and then serialised by FastAPI gives the same JSON as
orjson over the row's fields (UUIDs as strings, UTC times with ``Z``), at a fraction of the
cost: a page of 50 runs spent about a sixth of its CPU validating rows it had just read. The
route still declares its read model (``response_model``) for OpenAPI and the SDK. A value
orjson cannot encode (an integer beyond 64 bits inside ``params``) takes the read model's path.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

_OPTIONS = orjson.OPT_UTC_Z
_MEDIA_TYPE = "application/json"


def _fields(read_model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(read_model.model_fields)


def _items(rows: Sequence[Any], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    if rows and tuple(rows[0]._fields) == fields:  # the table's columns are the model's fields
        return [dict(zip(fields, row, strict=True)) for row in rows]
    return [{name: getattr(row, name) for name in fields} for row in rows]


def _uuid_text(value: Any) -> str:
    # asyncpg's own UUID type (what rows carry) is not the uuid.UUID orjson knows.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError


def _encode(document: Any, fallback: Any) -> bytes:
    try:
        return orjson.dumps(document, default=_uuid_text, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return fallback().model_dump_json().encode()  # type: ignore[no-any-return]


def entity_response(
    row: Any,
    read_model: type[BaseModel],
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The entity ``row`` as ``read_model`` shows it (a read model already built is dumped)."""
    if isinstance(row, BaseModel):
        body = row.model_dump_json().encode()
    else:
        fields = _fields(read_model)
        body = _encode(
            _items([row], fields)[0], lambda: read_model.model_validate(row, from_attributes=True)
        )
    return Response(body, status_code, dict(headers or {}), _MEDIA_TYPE)


def page_response(
    rows: Sequence[Any],
    next_page_token: str | None,
    read_model: type[BaseModel],
    page_model: type[BaseModel],
    extra: dict[str, Any] | None = None,
) -> Response:
    """``{"items": [...], "next_page_token": ...}`` of ``rows`` as ``read_model`` shows them,
    plus the page's ``extra`` fields (e.g. a total)."""
    fields = _fields(read_model)
    document = {"items": _items(rows, fields), "next_page_token": next_page_token, **(extra or {})}
    body = _encode(
        document,
        lambda: page_model.model_validate(
            {"items": rows, "next_page_token": next_page_token, **(extra or {})},
            from_attributes=True,
        ),
    )
    return Response(body, media_type=_MEDIA_TYPE)
