"""Who is acting. Every endpoint depends on :data:`CurrentPrincipal`.

For now the API Gateway authenticates and forwards a trusted identity header (its name is
``EXPSVC_IDENTITY_HEADER``); with none configured, everyone is ``anonymous``. Real
authentication and roles plug in here later without touching endpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from expsvc.errors import Unauthorized

ANONYMOUS = "anonymous"
_PRINCIPAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,255}$")


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    groups: frozenset[str] = frozenset()
    # Platform admins may do anything; so does the local user when identity is off.
    is_admin: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.id == ANONYMOUS


ANONYMOUS_PRINCIPAL = Principal(ANONYMOUS, is_admin=True)


def resolve_principal(request: Request) -> Principal:
    header: str | None = request.app.state.settings.identity_header
    if header is None:
        return ANONYMOUS_PRINCIPAL
    value = request.headers.get(header)
    if not value:
        raise Unauthorized(f"missing identity header {header}")
    if not _PRINCIPAL_ID.fullmatch(value):
        raise Unauthorized(f"malformed identity in header {header}")
    return Principal(value)


async def current_principal(request: Request) -> Principal:
    # async so FastAPI calls it inline; a sync dependency would cost a thread-pool hop.
    return resolve_principal(request)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
