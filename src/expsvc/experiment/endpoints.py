from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from expsvc.bulk.endpoints import bulk_response
from expsvc.bulk.schemas import BulkResult, ExperimentBulkTags
from expsvc.bulk.service import BulkConflict, BulkSelectionTooLarge
from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, PreconditionFailed, ValidationFailed, problem_responses
from expsvc.experiment.errors import (
    ExperimentHasRunningRuns,
    ExperimentNotDeletable,
    ExperimentNotFound,
)
from expsvc.experiment.repository import ExperimentRepository
from expsvc.experiment.schemas import (
    ExperimentCreate,
    ExperimentPage,
    ExperimentQuery,
    ExperimentRead,
    ExperimentUpdate,
)
from expsvc.experiment.service import ExperimentService
from expsvc.history.endpoints import add_history_route
from expsvc.lifecycle import EntityKind
from expsvc.responses import entity_response, page_response
from expsvc.routing import CurrentSettings, DbSession, TransactionalRoute
from expsvc.transition_routes import add_transition_routes

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=TransactionalRoute)

IfMatch = Annotated[ExpectedVersions, Depends(if_match)]


async def get_service(session: DbSession) -> ExperimentService:
    # async: FastAPI runs plain-def dependencies in a worker thread, a hop on every request.
    return ExperimentService(session)


Service = Annotated[ExperimentService, Depends(get_service)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_experiment",
    responses=problem_responses(ValidationFailed),
)
async def create_experiment(
    body: ExperimentCreate, context: CurrentContext, service: Service, response: Response
) -> ExperimentRead:
    experiment = await service.create(context, body)
    response.headers["ETag"] = etag_for(experiment.version)
    response.headers["Location"] = f"/v1/experiments/{experiment.id}"
    return experiment


@router.get(
    "/{experiment_id}",
    operation_id="get_experiment",
    response_model=ExperimentRead,
    responses=problem_responses(ExperimentNotFound, ValidationFailed),
)
async def get_experiment(
    experiment_id: uuid.UUID, context: CurrentContext, service: Service
) -> Response:
    experiment = await service.get(context.principal, experiment_id)
    return entity_response(experiment, ExperimentRead, {"ETag": etag_for(experiment.version)})


@router.get(
    "",
    operation_id="list_experiments",
    response_model=ExperimentPage,
    responses=problem_responses(BadRequest, ValidationFailed),
)
async def list_experiments(
    query: Annotated[ExperimentQuery, Query()],
    context: CurrentContext,
    service: Service,
    settings: CurrentSettings,
) -> Response:
    """Filter experiments (every filter narrows: AND), ordered by ``order_by`` then id,
    keyset-paginated; newest first by default. With ``order_by=started_at`` or
    ``finished_at``, experiments without that time sort as the largest values (last in
    ascending order, first in descending). ``total=estimate|exact`` adds ``total_size``."""
    page, totals = await service.search(context.principal, query, settings.list_total_budget_ms)
    return page_response(page.rows, page.next_page_token, ExperimentRead, ExperimentPage, totals)


@router.patch(
    "/{experiment_id}",
    operation_id="update_experiment",
    responses=problem_responses(
        BadRequest, ExperimentNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def update_experiment(
    experiment_id: uuid.UUID,
    body: ExperimentUpdate,
    context: CurrentContext,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> ExperimentRead:
    experiment = await service.update(context, experiment_id, body, expected)
    response.headers["ETag"] = etag_for(experiment.version)
    return experiment


@router.delete(
    "/{experiment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_experiment",
    responses=problem_responses(
        BadRequest, ExperimentNotFound, ExperimentNotDeletable, PreconditionFailed
    ),
)
async def delete_experiment(
    experiment_id: uuid.UUID, context: CurrentContext, expected: IfMatch, service: Service
) -> Response:
    """Only draft experiments without runs can be deleted; archive the others."""
    await service.delete(context, experiment_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/bulk/tags",
    operation_id="bulk_tag_experiments",
    response_model=BulkResult,
    responses=problem_responses(BulkConflict, BulkSelectionTooLarge, ValidationFailed),
)
async def bulk_tag_experiments(
    body: ExperimentBulkTags, context: CurrentContext, service: Service
) -> Response:
    """Add and/or remove tags on up to 10,000 experiments, chosen by ids or by a filter.

    Experiments whose tags would not change are ``unchanged`` (no new version, event or audit
    row). ``atomic`` (default): all or nothing; ``partial``: change what can be changed.
    """
    return bulk_response(await service.bulk_tag(context, body))


add_transition_routes(
    router,
    EntityKind.experiment,
    ExperimentRead,
    get_service,
    ExperimentService.transition,
    (ExperimentNotFound, ExperimentHasRunningRuns),
)
add_history_route(router, EntityKind.experiment, ExperimentRepository, ExperimentNotFound)
