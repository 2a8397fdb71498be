"""405, not 422, for a method a fixed path does not serve.

``/v1/runs/export`` is served before ``/v1/runs/{run_id}``, which it also matches: a ``PATCH
/v1/runs/export`` used to reach the run's PATCH and fail as a malformed run id (422), and the
405 answer's ``Allow`` named that PATCH too. :func:`guard_fixed_paths` puts, before every other
route, one for each such fixed path that takes the methods it does not serve and answers 405
with the path's own methods in ``Allow`` (rendered by the one 405 handler, see error_handlers).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Match, Route

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class MethodNotServed(Route):
    """Takes the methods its fixed path does not serve, so no later route claims them."""


async def _method_not_allowed(request: Request) -> None:
    raise HTTPException(status_code=405)


def guard_fixed_paths(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Call once ``routers`` (every router of the app) are included."""
    routes = [route for router in routers for route in router.routes if isinstance(route, Route)]
    fixed: dict[str, set[str]] = {}
    for route in routes:
        if "{" not in route.path:
            fixed.setdefault(route.path, set()).update(route.methods or ())
    for path, methods in fixed.items():
        others = [m for m in _METHODS if m not in methods]
        if _shadowed(path, others, [route for route in routes if "{" in route.path]):
            # First of all routes: it takes only methods nothing else may serve at this path.
            guard = MethodNotServed(
                path, _method_not_allowed, methods=others, include_in_schema=False
            )
            app.router.routes.insert(0, guard)


def _shadowed(path: str, methods: list[str], parameterised: list[Route]) -> bool:
    """Whether a route with path parameters would take one of ``methods`` at ``path``."""
    for method in methods:
        probe = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        if any(route.matches(probe)[0] is Match.FULL for route in parameterised):
            return True
    return False
