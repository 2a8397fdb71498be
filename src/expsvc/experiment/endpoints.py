from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from expsvc.auth.principal import CurrentPrincipal
from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.db import DbSession, TransactionalRoute
from expsvc.errors import (
    BadRequest,
    PreconditionFailed,
    ValidationFailed,
    problem_responses,
)
from expsvc.experiment.schemas import (
    ExperimentCreate,
    ExperimentPage,
    ExperimentRead,
    ExperimentUpdate,
)
from expsvc.experiment.service import (
    ExperimentNotDeletable,
    ExperimentNotFound,
    ExperimentService,
)
from expsvc.lifecycle import Status
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import Tag

router = APIRouter(prefix="/v1/experiments", tags=["experiments"], route_class=TransactionalRoute)

IfMatch = Annotated[ExpectedVersions, Depends(if_match)]


def get_service(session: DbSession) -> ExperimentService:
    return ExperimentService(session)


Service = Annotated[ExperimentService, Depends(get_service)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_experiment",
    responses=problem_responses(ValidationFailed),
)
async def create_experiment(
    body: ExperimentCreate, principal: CurrentPrincipal, service: Service, response: Response
) -> ExperimentRead:
    experiment = await service.create(principal, body)
    response.headers["ETag"] = etag_for(experiment.version)
    response.headers["Location"] = f"/v1/experiments/{experiment.id}"
    return experiment


@router.get(
    "/{experiment_id}",
    operation_id="get_experiment",
    responses=problem_responses(ExperimentNotFound, ValidationFailed),
)
async def get_experiment(
    experiment_id: uuid.UUID, _: CurrentPrincipal, service: Service, response: Response
) -> ExperimentRead:
    experiment = await service.get(experiment_id)
    response.headers["ETag"] = etag_for(experiment.version)
    return experiment


@router.get(
    "",
    operation_id="list_experiments",
    responses=problem_responses(BadRequest, ValidationFailed),
)
async def list_experiments(
    _: CurrentPrincipal,
    service: Service,
    status: Annotated[
        list[Status], Query(description="Keep experiments in any of these statuses.")
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    tag: Annotated[
        list[Tag], Query(max_length=16, description="Keep experiments carrying all these tags.")
    ] = [],  # noqa: B006
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> ExperimentPage:
    """Newest first (created_at, then id), keyset-paginated."""
    return await service.list(status, tag, page_size, page_token)


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
    _: CurrentPrincipal,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> ExperimentRead:
    experiment = await service.update(experiment_id, body, expected)
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
    experiment_id: uuid.UUID, _: CurrentPrincipal, expected: IfMatch, service: Service
) -> Response:
    """Only draft experiments can be deleted; others are archived instead."""
    await service.delete(experiment_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
