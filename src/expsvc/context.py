"""Who acts and on whose behalf: carried from the endpoint into services and history rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from expsvc.auth.principal import Principal, resolve_principal
from expsvc.lifecycle import Source


@dataclass(frozen=True, slots=True)
class ActionContext:
    principal: Principal
    request_id: str | None
    source: Source = Source.user

    @property
    def actor(self) -> str:
        return self.principal.id


def action_context(
    request: Request, principal: Annotated[Principal, Depends(resolve_principal)]
) -> ActionContext:
    return ActionContext(principal=principal, request_id=getattr(request.state, "request_id", None))


CurrentContext = Annotated[ActionContext, Depends(action_context)]
