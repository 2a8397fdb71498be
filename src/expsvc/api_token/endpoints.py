"""``/v1/tokens``: API tokens, for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from expsvc.api_token.schemas import (
    ApiTokenCreate,
    ApiTokenPage,
    ApiTokenQuery,
    ApiTokenRead,
    ApiTokenWithSecret,
)
from expsvc.api_token.service import ApiTokenNotFound, ApiTokenService
from expsvc.auth.errors import AdminRequired
from expsvc.auth.principal import CurrentPrincipal, Principal
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.routing import DbSession, TransactionalRoute

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], route_class=TransactionalRoute)


async def admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise AdminRequired("managing API tokens is for admins (EXPSVC_ADMIN_PRINCIPALS/GROUPS)")
    return principal


async def get_service(session: DbSession) -> ApiTokenService:
    return ApiTokenService(session)


Admin = Annotated[Principal, Depends(admin)]
Service = Annotated[ApiTokenService, Depends(get_service)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_api_token",
    responses=problem_responses(AdminRequired, ValidationFailed),
)
async def create_api_token(
    body: ApiTokenCreate, _: Admin, context: CurrentContext, service: Service
) -> ApiTokenWithSecret:
    """A new bearer token; the answer is the only time it is shown."""
    return await service.create(body, context)


@router.get(
    "",
    operation_id="list_api_tokens",
    responses=problem_responses(AdminRequired, BadRequest, ValidationFailed),
)
async def list_api_tokens(
    query: Annotated[ApiTokenQuery, Query()], _: Admin, service: Service
) -> ApiTokenPage:
    """Tokens newest first (without the tokens themselves); revoked ones on request."""
    return await service.list(query)


@router.post(
    "/{token_id}/revoke",
    operation_id="revoke_api_token",
    responses=problem_responses(AdminRequired, ApiTokenNotFound),
)
async def revoke_api_token(
    token_id: uuid.UUID, _: Admin, context: CurrentContext, service: Service
) -> ApiTokenRead:
    """Revoke at once: the next request with the token is refused."""
    return await service.revoke(token_id, context)
