from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from expsvc.audit.schemas import AuditPage, AuditQuery
from expsvc.audit.service import AuditService
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.routing import DbSession, TransactionalRoute

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=TransactionalRoute)


async def get_service(session: DbSession) -> AuditService:
    return AuditService(session)


@router.get(
    "", operation_id="list_audit_entries", responses=problem_responses(BadRequest, ValidationFailed)
)
async def list_audit_entries(
    query: Annotated[AuditQuery, Query()],
    context: CurrentContext,
    service: Annotated[AuditService, Depends(get_service)],
) -> AuditPage:
    """Who changed what and when, newest first, of what the caller may read. Time ranges:
    after inclusive, before exclusive. Rows about webhooks and API tokens belong to no
    experiment: only admins see them."""
    return await service.search(context.principal, query)
