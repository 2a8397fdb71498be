"""The one place where exceptions become ``application/problem+json`` responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from expsvc.db import sqlstate
from expsvc.errors import (
    BadRequest,
    Conflict,
    DatabaseUnavailable,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ProblemError,
    RequestTimedOut,
    ValidationFailed,
    problem_response,
)
from expsvc.method_guard import MethodNotServed

_log = structlog.get_logger("expsvc.errors")

# SQLSTATEs that mean "the database is not there right now", not "your request is wrong".
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53")
_QUERY_CANCELED = "57014"
# The server takes no writes: a replica, or a restored server still replaying its WAL (it
# accepts connections before it is promoted). Not the client's fault, and over in a moment.
_READ_ONLY = "25006"
_UNIQUE_VIOLATION = "23505"
# A table or column this release needs is missing: the schema is behind (not migrated yet).
_SCHEMA_BEHIND = frozenset({"42P01", "42703"})


def classify_database_error(error: BaseException, retry_after: int) -> ProblemError | None:
    """Map driver/pool failures to 503 (or 409 for unique violations); None if not ours."""
    retry = {"Retry-After": str(retry_after)}
    if isinstance(error, sa_exc.TimeoutError):
        return DatabaseUnavailable("no database connection became free in time", headers=retry)
    if isinstance(error, sa_exc.DBAPIError):
        state = sqlstate(error)
        if state == _QUERY_CANCELED:
            return RequestTimedOut("the database statement timed out", headers=retry)
        if state in _SCHEMA_BEHIND:
            return DatabaseUnavailable(
                "the database schema is behind this release; run `expsvc db upgrade`",
                headers=retry,
            )
        if state == _UNIQUE_VIOLATION:
            return Conflict("the resource already exists")
        if state == _READ_ONLY:
            return DatabaseUnavailable(
                "the database takes no writes right now (a replica, or still in recovery)",
                headers=retry,
            )
        if (
            error.connection_invalidated
            or isinstance(error, sa_exc.InterfaceError | sa_exc.OperationalError)
            or (state is not None and state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES))
        ):
            return DatabaseUnavailable("the database cannot be reached", headers=retry)
        return None
    if isinstance(error, OSError | TimeoutError):
        return DatabaseUnavailable("the database cannot be reached", headers=retry)
    return None


def _pointer(loc: tuple[Any, ...]) -> str:
    return "/" + "/".join(str(part) for part in loc)


def _validation_problem(error: RequestValidationError) -> ProblemError:
    details = error.errors()
    if any(item.get("type") == "json_invalid" for item in details):
        return BadRequest("the request body is not valid JSON")
    items = [
        {"pointer": _pointer(tuple(item["loc"])), "message": item["msg"], "code": item["type"]}
        for item in details
    ]
    summary = "; ".join(f"{i['pointer']}: {i['message']}" for i in items[:5])
    return ValidationFailed(summary, errors=items)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str | None:
    """Every method served at this path; Starlette's Allow names only the first route's."""
    allowed = []
    for method in _METHODS:
        probe = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
        }
        # The first route to take the method serves it, unless it is a 405 guard.
        first = next(
            (r for r in request.app.router.routes if r.matches(probe)[0] is Match.FULL), None
        )
        if first is not None and not isinstance(first, MethodNotServed):
            allowed.append(method)
    return ", ".join(allowed) or None


def install_problem_handlers(
    app: FastAPI, retry_after: int
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Register the problem handlers; return the one of last resort, for exceptions no handler
    claims, which :class:`~expsvc.observability.middleware.RequestMiddleware` calls while the
    request id is still in place (Starlette would call it outside every middleware)."""

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ProblemError)
        return problem_response(error, request.url.path)

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return problem_response(_validation_problem(error), request.url.path)

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        problem: ProblemError
        if error.status_code == 404:
            problem = NotFound(f"no resource at {request.url.path}")
        elif error.status_code == 405:
            headers = dict(error.headers or {})
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
            problem = MethodNotAllowed(
                f"{request.method} is not allowed on {request.url.path}", headers=headers
            )
        elif error.status_code == 400:
            problem = BadRequest(str(error.detail))
        else:
            problem = ProblemError(str(error.detail))
            problem.status = error.status_code
        return problem_response(problem, request.url.path)

    async def on_unexpected(request: Request, error: Exception) -> Response:
        problem = classify_database_error(error, retry_after)
        if problem is None:
            _log.exception("unhandled error", path=request.url.path)
            problem = InternalError("an unexpected error occurred; it has been logged")
        else:
            _log.warning("request failed", path=request.url.path, error=repr(error))
        return problem_response(problem, request.url.path)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    for error_type in (sa_exc.SQLAlchemyError, OSError, TimeoutError):
        app.add_exception_handler(error_type, on_unexpected)
    return on_unexpected
