"""Lifecycle actions as routes: ``POST /{id}/start|finish|stop|fail|archive`` for any entity.

One factory instead of a near-copy per entity and action; the operation ids stay readable
(``start_run``, ``stop_capture``) because they become SDK method names. No ``from __future__
import annotations`` here: FastAPI must see the real types of the generated endpoints.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel

from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, PreconditionFailed, ProblemError, problem_responses
from expsvc.lifecycle import (
    ACTIONS,
    REASON_REQUIRED,
    Action,
    EntityKind,
    InvalidTransition,
    transition_summary,
)
from expsvc.responses import entity_response
from expsvc.schemas import FailRequest, TransitionRequest

# The service's transition(context, entity_id, action, expected, reason), bound to a service.
RunAction = Callable[[Any, Any, uuid.UUID, Action, ExpectedVersions, str | None], Awaitable[Any]]


def add_transition_routes(
    router: APIRouter,
    kind: EntityKind,
    read_model: type[BaseModel],
    service_dependency: Callable[..., Any],
    run_action: RunAction,
    errors: tuple[type[ProblemError], ...],
) -> None:
    """Register one route per action of ``kind`` on ``router`` (whose prefix names the entity)."""
    for action in ACTIONS[kind]:
        _add_route(router, kind, action, read_model, service_dependency, run_action, errors)


def _add_route(
    router: APIRouter,
    kind: EntityKind,
    action: Action,
    read_model: type[BaseModel],
    service_dependency: Callable[..., Any],
    run_action: RunAction,
    errors: tuple[type[ProblemError], ...],
) -> None:
    Service = Annotated[Any, Depends(service_dependency)]
    IfMatch = Annotated[ExpectedVersions, Depends(if_match)]
    path_name = f"{kind.value}_id"
    EntityId = Annotated[uuid.UUID, Path(alias=path_name)]

    if action in REASON_REQUIRED:

        async def endpoint(
            entity_id: EntityId,
            body: Annotated[FailRequest, Body()],
            context: CurrentContext,
            expected: IfMatch,
            service: Service,
        ) -> Any:
            entity = await run_action(service, context, entity_id, action, expected, body.reason)
            return entity_response(entity, read_model, {"ETag": etag_for(entity.version)})

    else:

        async def endpoint(  # type: ignore[misc]
            entity_id: EntityId,
            context: CurrentContext,
            expected: IfMatch,
            service: Service,
            body: Annotated[TransitionRequest | None, Body()] = None,
        ) -> Any:
            reason = body.reason if body is not None else None
            entity = await run_action(service, context, entity_id, action, expected, reason)
            return entity_response(entity, read_model, {"ETag": etag_for(entity.version)})

    router.add_api_route(
        f"/{{{path_name}}}/{action.value}",
        endpoint,
        methods=["POST"],
        response_model=read_model,
        operation_id=f"{action.value}_{kind.value}",
        summary=(
            f"{action.value.capitalize()} {kind.article} {kind.value}: {transition_summary(action)}"
        ),
        responses=problem_responses(BadRequest, InvalidTransition, PreconditionFailed, *errors),
    )
