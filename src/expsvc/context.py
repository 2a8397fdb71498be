"""Who acts and on whose behalf: carried from the endpoint into services and history rows."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request

from expsvc.auth.principal import CurrentPrincipal, Principal
from expsvc.lifecycle import Source
from expsvc.observability.tracing import current_traceparent


@dataclass(frozen=True, slots=True)
class ActionContext:
    principal: Principal
    request_id: str | None
    source: Source = Source.user
    traceparent: str | None = None
    client_address: str | None = None
    idempotency_key: str | None = None
    batch_id: uuid.UUID | None = None
    # Ours, never the client's (request_id may be the client's X-Request-ID): audit rows carry it.
    server_request_id: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.id

    def as_system(self) -> ActionContext:
        """The same actor and request, recorded as a consequence rather than a direct action."""
        return replace(self, source=Source.system)

    def in_batch(self, batch_id: uuid.UUID) -> ActionContext:
        """The same context, tying every change it records to one bulk operation."""
        return replace(self, batch_id=batch_id)


# W3C Trace Context: version-traceid-parentid-flags, lowercase hex, all-zero ids invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")


async def action_context(request: Request, principal: CurrentPrincipal) -> ActionContext:
    # Tracing on: the request's own span (child of the caller's), so consumers join the trace.
    traceparent = current_traceparent() or request.headers.get("traceparent")
    state = request.scope.get("state", {})  # set by the request middleware
    return ActionContext(
        principal=principal,
        request_id=state.get("request_id"),
        server_request_id=state.get("server_request_id"),
        traceparent=traceparent if traceparent and _TRACEPARENT.match(traceparent) else None,
        client_address=request.client.host if request.client else None,
        # Validated by the transactional route before the endpoint runs.
        idempotency_key=request.headers.get("Idempotency-Key"),
    )


CurrentContext = Annotated[ActionContext, Depends(action_context)]
