from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from expsvc.bulk.endpoints import bulk_response
from expsvc.bulk.schemas import BulkResult, RunBulkTags, RunBulkTransition
from expsvc.bulk.service import BulkConflict, BulkSelectionTooLarge
from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, PreconditionFailed, ValidationFailed, problem_responses
from expsvc.experiment.errors import ExperimentNotFound
from expsvc.history.endpoints import add_history_route
from expsvc.lifecycle import EntityKind
from expsvc.responses import entity_response, page_response
from expsvc.routing import CurrentSettings, DbSession, TransactionalRoute
from expsvc.run.bulk import RunBulkService
from expsvc.run.repository import RunRepository
from expsvc.run.schemas import (
    RunCreate,
    RunCreateWithExperiment,
    RunPage,
    RunQuery,
    RunRead,
    RunUpdate,
)
from expsvc.run.service import ExperimentClosed, RunNotFound, RunService
from expsvc.transition_routes import add_transition_routes

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=TransactionalRoute)
experiment_runs_router = APIRouter(
    prefix="/v1/experiments", tags=["runs"], route_class=TransactionalRoute
)

IfMatch = Annotated[ExpectedVersions, Depends(if_match)]


async def get_service(session: DbSession) -> RunService:
    # async: FastAPI runs plain-def dependencies in a worker thread, a hop on every request.
    return RunService(session)


Service = Annotated[RunService, Depends(get_service)]
_CREATE_ERRORS = problem_responses(ExperimentNotFound, ExperimentClosed, ValidationFailed)


def _created(run: Any) -> Response:  # a RunRow (a named tuple of the columns)
    headers = {"ETag": etag_for(run.version), "Location": f"/v1/runs/{run.id}"}
    return entity_response(run, RunRead, headers, status.HTTP_201_CREATED)


@experiment_runs_router.post(
    "/{experiment_id}/runs",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_run_in_experiment",
    response_model=RunRead,
    responses=_CREATE_ERRORS,
)
async def create_run_in_experiment(
    experiment_id: uuid.UUID,
    body: RunCreate,
    context: CurrentContext,
    service: Service,
) -> Response:
    """Create a draft run in an experiment that is draft or running."""
    return _created(await service.create(context, experiment_id, body))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_run",
    response_model=RunRead,
    responses=_CREATE_ERRORS,
)
async def create_run(
    body: RunCreateWithExperiment, context: CurrentContext, service: Service
) -> Response:
    """Create a draft run; the body names its experiment."""
    fields = RunCreate.model_validate(body.model_dump(exclude={"experiment_id"}))
    return _created(await service.create(context, body.experiment_id, fields))


@router.get(
    "/{run_id}",
    operation_id="get_run",
    response_model=RunRead,
    responses=problem_responses(RunNotFound, ValidationFailed),
)
async def get_run(run_id: uuid.UUID, context: CurrentContext, service: Service) -> Response:
    run = await service.get(context.principal, run_id)
    return entity_response(run, RunRead, {"ETag": etag_for(run.version)})


@router.get(
    "",
    operation_id="list_runs",
    response_model=RunPage,
    responses=problem_responses(BadRequest, ValidationFailed),
)
async def list_runs(
    query: Annotated[RunQuery, Query()],
    context: CurrentContext,
    service: Service,
    settings: CurrentSettings,
) -> Response:
    """Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Typed filters and ``filter`` (an AIP-160 expression, docs/filtering.md) combine with AND;
    a filter that does not parse, names an unknown field or is too complex is a 400 problem.
    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Pages are keyset pages: runs created while
    paging never repeat or shift a page. Unknown parameters are refused.
    """
    page, totals = await service.search(context.principal, query, settings.list_total_budget_ms)
    return page_response(page.rows, page.next_page_token, RunRead, RunPage, totals)


@router.patch(
    "/{run_id}",
    operation_id="update_run",
    responses=problem_responses(BadRequest, RunNotFound, PreconditionFailed, ValidationFailed),
)
async def update_run(
    run_id: uuid.UUID,
    body: RunUpdate,
    context: CurrentContext,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> RunRead:
    run = await service.update(context, run_id, body, expected)
    response.headers["ETag"] = etag_for(run.version)
    return run


async def get_bulk_service(session: DbSession) -> RunBulkService:
    return RunBulkService(session)


BulkService = Annotated[RunBulkService, Depends(get_bulk_service)]
_BULK_ERRORS = problem_responses(BulkConflict, BulkSelectionTooLarge, ValidationFailed)


@router.post(
    "/bulk/transition",
    operation_id="bulk_transition_runs",
    response_model=BulkResult,
    responses=_BULK_ERRORS,
)
async def bulk_transition_runs(
    body: RunBulkTransition, context: CurrentContext, service: BulkService
) -> Response:
    """Start, finish, fail or archive up to 10,000 runs, chosen by ids or by a filter.

    The single-run rules and cascades apply to each run; every change gets its history row,
    event and audit row, tied by the answer's ``batch_id``. ``atomic`` (default): all or
    nothing, 409 listing the runs that cannot change. ``partial``: change what can be changed.
    """
    return bulk_response(await service.transition(context, body))


@router.post(
    "/bulk/tags",
    operation_id="bulk_tag_runs",
    response_model=BulkResult,
    responses=_BULK_ERRORS,
)
async def bulk_tag_runs(
    body: RunBulkTags, context: CurrentContext, service: BulkService
) -> Response:
    """Add and/or remove tags on up to 10,000 runs, chosen by ids or by a filter.

    Runs whose tags would not change are ``unchanged`` (no new version, event or audit row).
    """
    return bulk_response(await service.tag(context, body))


add_transition_routes(
    router,
    EntityKind.run,
    RunRead,
    get_service,
    RunService.transition,
    (RunNotFound, ExperimentClosed),
)
add_history_route(router, EntityKind.run, RunRepository, RunNotFound)
