from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from expsvc.capture.repository import CaptureRepository
from expsvc.capture.schemas import (
    CaptureCreate,
    CapturePage,
    CaptureQuery,
    CaptureRead,
    CaptureUpdate,
    RunCaptureQuery,
)
from expsvc.capture.service import (
    CaptureClosed,
    CaptureNotFound,
    CaptureService,
    CaptureSessionIdTaken,
    RunClosed,
    RunNotRunning,
)
from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, PreconditionFailed, ValidationFailed, problem_responses
from expsvc.history.endpoints import add_history_route
from expsvc.lifecycle import EntityKind
from expsvc.responses import entity_response, page_response
from expsvc.routing import DbSession, TransactionalRoute
from expsvc.run.service import RunNotFound
from expsvc.transition_routes import add_transition_routes

router = APIRouter(prefix="/v1/captures", tags=["captures"], route_class=TransactionalRoute)
run_captures_router = APIRouter(
    prefix="/v1/runs", tags=["captures"], route_class=TransactionalRoute
)

IfMatch = Annotated[ExpectedVersions, Depends(if_match)]


async def get_service(session: DbSession) -> CaptureService:
    # async: FastAPI runs plain-def dependencies in a worker thread, a hop on every request.
    return CaptureService(session)


Service = Annotated[CaptureService, Depends(get_service)]


@run_captures_router.post(
    "/{run_id}/captures",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_capture",
    responses=problem_responses(RunNotFound, RunClosed, CaptureSessionIdTaken, ValidationFailed),
)
async def create_capture(
    run_id: uuid.UUID,
    body: CaptureCreate,
    context: CurrentContext,
    service: Service,
    response: Response,
) -> CaptureRead:
    """Create a draft capture session in a run that is draft or running."""
    capture = await service.create(context, run_id, body)
    response.headers["ETag"] = etag_for(capture.version)
    response.headers["Location"] = f"/v1/captures/{capture.id}"
    return capture


@run_captures_router.get(
    "/{run_id}/captures",
    operation_id="list_run_captures",
    response_model=CapturePage,
    responses=problem_responses(BadRequest, RunNotFound, ValidationFailed),
)
async def list_run_captures(
    run_id: uuid.UUID,
    query: Annotated[RunCaptureQuery, Query()],
    context: CurrentContext,
    service: Service,
) -> Response:
    """The run's capture sessions, newest first (created_at, then id), keyset-paginated.

    Unknown parameters are refused.
    """
    page = await service.search_in_run(context.principal, run_id, query)
    return page_response(page.rows, page.next_page_token, CaptureRead, CapturePage)


@router.get(
    "/{capture_id}",
    operation_id="get_capture",
    response_model=CaptureRead,
    responses=problem_responses(CaptureNotFound, ValidationFailed),
)
async def get_capture(capture_id: uuid.UUID, context: CurrentContext, service: Service) -> Response:
    capture = await service.get(context.principal, capture_id)
    return entity_response(capture, CaptureRead, {"ETag": etag_for(capture.version)})


@router.get(
    "",
    operation_id="list_captures",
    response_model=CapturePage,
    responses=problem_responses(BadRequest, ValidationFailed),
)
async def list_captures(
    query: Annotated[CaptureQuery, Query()],
    context: CurrentContext,
    service: Service,
) -> Response:
    """Capture sessions of every run, newest first (created_at, then id), keyset-paginated.

    Unknown parameters are refused.
    """
    page = await service.search(context.principal, query)
    return page_response(page.rows, page.next_page_token, CaptureRead, CapturePage)


@router.patch(
    "/{capture_id}",
    operation_id="update_capture",
    responses=problem_responses(
        BadRequest, CaptureNotFound, CaptureClosed, PreconditionFailed, ValidationFailed
    ),
)
async def update_capture(
    capture_id: uuid.UUID,
    body: CaptureUpdate,
    context: CurrentContext,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> CaptureRead:
    """Replace the sensors of a draft or running capture session."""
    capture = await service.update(context, capture_id, body, expected)
    response.headers["ETag"] = etag_for(capture.version)
    return capture


add_transition_routes(
    router,
    EntityKind.capture,
    CaptureRead,
    get_service,
    CaptureService.transition,
    (CaptureNotFound, RunNotRunning),
)
add_history_route(router, EntityKind.capture, CaptureRepository, CaptureNotFound)
