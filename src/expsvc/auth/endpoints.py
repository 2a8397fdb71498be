"""``GET /v1/me``: who the service takes the caller to be."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import Field

from expsvc.auth.principal import CurrentPrincipal
from expsvc.errors import Forbidden, problem_responses
from expsvc.schemas import ResponseModel
from expsvc.settings import AuthMode, Settings

router = APIRouter(prefix="/v1", tags=["identity"])


class MeRead(ResponseModel):
    principal: str = Field(examples=["alice@example.com"])
    groups: list[str] = Field(description="Sorted.")
    is_admin: bool
    auth_mode: AuthMode = Field(description="EXPSVC_AUTH_MODE of this service.")


@router.get("/me", operation_id="get_me", responses=problem_responses(Forbidden))
async def get_me(request: Request, principal: CurrentPrincipal) -> MeRead:
    """The caller's principal, groups and admin status, as this service resolved them."""
    settings: Settings = request.app.state.settings
    return MeRead(
        principal=principal.id,
        groups=sorted(principal.groups),
        is_admin=principal.is_admin,
        auth_mode=settings.auth_mode,
    )
