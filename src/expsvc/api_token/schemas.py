from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from expsvc.auth.principal import GROUP_NAME
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import PageToken, PrincipalId, RequestModel, ResponseModel

MAX_TOKEN_GROUPS = 64
MAX_LIFETIME_DAYS = 3650

GroupName = Annotated[str, StringConstraints(pattern=GROUP_NAME.pattern, max_length=256)]


class ApiTokenCreate(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        examples=["ci-nightly"], description="What the token is for (not unique)."
    )
    principal: PrincipalId | None = Field(
        default=None,
        description="Who the token acts as (a service account); default: the caller. Names "
        "reserved for the service (system:..., expsvc-worker, ...) are refused.",
    )
    groups: list[GroupName] = Field(default_factory=list, max_length=MAX_TOKEN_GROUPS)
    expires_in_days: int = Field(default=90, ge=1, le=MAX_LIFETIME_DAYS)


class ApiTokenRead(ResponseModel):
    id: uuid.UUID
    name: str
    hint: str = Field(description="The token's first characters, to tell tokens apart.")
    principal: str
    groups: list[str]
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None
    revoked_by: str | None


class ApiTokenWithSecret(ApiTokenRead):
    # The stored reply of a keyed create is sealed (docs/adr/0011): it holds the token.
    holds_secret: ClassVar[bool] = True

    token: str = Field(description="The bearer token. Shown only in this answer: store it now.")


class ApiTokenPage(ResponseModel):
    items: list[ApiTokenRead] = Field(description="Newest first.")
    next_page_token: str | None


class ApiTokenQuery(RequestModel):
    include_revoked: bool = False
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None
