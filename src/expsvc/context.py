"""Who acts and on whose behalf: carried from the endpoint into services and history rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends, Request

from expsvc.auth.principal import Principal, resolve_principal
from expsvc.lifecycle import Source


@dataclass(frozen=True, slots=True)
class ActionContext:
    principal: Principal
    request_id: str | None
    source: Source = Source.user
    traceparent: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.id

    def as_system(self) -> ActionContext:
        """The same actor and request, recorded as a consequence rather than a direct action."""
        return replace(self, source=Source.system)


# W3C Trace Context: version-traceid-parentid-flags, lowercase hex, all-zero ids invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")


def action_context(
    request: Request, principal: Annotated[Principal, Depends(resolve_principal)]
) -> ActionContext:
    traceparent = request.headers.get("traceparent")
    return ActionContext(
        principal=principal,
        request_id=getattr(request.state, "request_id", None),
        traceparent=traceparent if traceparent and _TRACEPARENT.match(traceparent) else None,
    )


CurrentContext = Annotated[ActionContext, Depends(action_context)]
