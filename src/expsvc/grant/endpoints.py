from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from expsvc.auth.access import RoleRequired
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.experiment.errors import ExperimentNotFound
from expsvc.grant.schemas import GranteeName, GranteeType, GrantList, GrantRead, GrantWrite
from expsvc.grant.service import GrantService, LastOwner, grantee_key
from expsvc.routing import DbSession, TransactionalRoute

router = APIRouter(
    prefix="/v1/experiments/{experiment_id}/grants",
    tags=["grants"],
    route_class=TransactionalRoute,
)


async def get_service(session: DbSession) -> GrantService:
    return GrantService(session)


Service = Annotated[GrantService, Depends(get_service)]


@router.get(
    "",
    operation_id="list_experiment_grants",
    responses=problem_responses(ExperimentNotFound, ValidationFailed),
)
async def list_grants(
    experiment_id: uuid.UUID, context: CurrentContext, service: Service
) -> GrantList:
    """Who holds which role on the experiment (any role may read this)."""
    return await service.list(context.principal, experiment_id)


@router.put(
    "/{grantee_type}/{name}",
    operation_id="put_experiment_grant",
    responses=problem_responses(
        BadRequest, ExperimentNotFound, RoleRequired, LastOwner, ValidationFailed
    ),
)
async def put_grant(
    experiment_id: uuid.UUID,
    grantee_type: GranteeType,
    name: GranteeName,
    body: GrantWrite,
    context: CurrentContext,
    service: Service,
) -> GrantRead:
    """Give a principal or a group a role (replacing the one it had). Owners only; demoting
    the last owner is 409 ``last-owner``. Transfer ownership by making the new owner an owner,
    then removing or demoting yourself."""
    return await service.put(context, experiment_id, grantee_key(grantee_type, name), body.role)


@router.delete(
    "/{grantee_type}/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_experiment_grant",
    responses=problem_responses(ExperimentNotFound, RoleRequired, LastOwner, ValidationFailed),
)
async def delete_grant(
    experiment_id: uuid.UUID,
    grantee_type: GranteeType,
    name: GranteeName,
    context: CurrentContext,
    service: Service,
) -> Response:
    """Take a principal's or a group's role away. Owners only; the last owner stays."""
    await service.delete(context, experiment_id, grantee_key(grantee_type, name))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
