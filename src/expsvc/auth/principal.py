"""Who is acting. Every endpoint depends on :data:`CurrentPrincipal`.

The principal is resolved once per request by the app's
:class:`~expsvc.auth.authenticator.Authenticator` (the mode is ``EXPSVC_AUTH_MODE``, see
``docs/security.md``) and kept in the request's state, so the idempotency check, which runs
before the endpoint's dependencies, and the endpoint share one resolution.

Names under ``system:`` and the other actor names the service writes itself (:data:`REAPER`,
:data:`WEBHOOK_DELIVERY`, :data:`CAPTURE_RECONCILER`, the integration senders, the local user)
are reserved: no caller may act under them, so an audit row with one of them was written by the
service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

ANONYMOUS = "anonymous"
SYSTEM_PREFIX = "system:"
PRINCIPAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,255}$")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:/+-]{0,255}$")
MAX_GROUPS = 256


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    groups: frozenset[str] = field(default_factory=frozenset)
    # Platform admins may do anything; so does the local user when identity is off.
    is_admin: bool = False

    @property
    def is_anonymous(self) -> bool:
        return self.id == ANONYMOUS


# The local user when identity is off (EXPSVC_AUTH_MODE=none): loopback callers only, an admin.
# Still "anonymous" so the audit log reads as it did before identity modes existed.
LOCAL_PRINCIPAL = Principal(ANONYMOUS, is_admin=True)
# The service's own actors, written by its background jobs and integrations; they act on
# every experiment (grants are for callers).
REAPER = Principal("system:reaper", is_admin=True)
# The webhook delivery worker: disables a webhook whose receiver answers 410 or fails too long.
WEBHOOK_DELIVERY = Principal("system:webhook-delivery", is_admin=True)
CAPTURE_RECONCILER = Principal("expsvc-worker", is_admin=True)
# ``expsvc token ...``: an operator with database access, acting outside every check.
CLI_OPERATOR = Principal("system:cli", is_admin=True)
TELEMETRY_INGEST = "telemetry-ingest"
ARTIFACT_SERVICE = "artifact-service"
_RESERVED = frozenset({ANONYMOUS, CAPTURE_RECONCILER.id, TELEMETRY_INGEST, ARTIFACT_SERVICE})


def is_reserved(principal_id: str) -> bool:
    """A name the service writes itself, which no caller may act under."""
    return principal_id.startswith(SYSTEM_PREFIX) or principal_id in _RESERVED


async def current_principal(request: Request) -> Principal:
    """The request's principal, resolved on first use and kept for the rest of the request."""
    # The scope's state dict, not ``getattr(request.state, ..., None)``: a missing name makes
    # Starlette's State raise and catch an AttributeError, 5 % of a GET's CPU.
    principal: Principal | None = request.scope.setdefault("state", {}).get("principal")
    if principal is None:
        principal = await request.app.state.authenticator.authenticate(request)
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
