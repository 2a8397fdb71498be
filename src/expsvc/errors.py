"""Typed errors and their one rendering as RFC 9457 ``application/problem+json``.

Services raise :class:`ProblemError` subclasses; nothing else in the code base builds an error
response. Each kind has a stable ``type`` URI (documented in ``docs/errors.md``).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.responses import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://docs.expsvc.dev/problems/"


class ProblemError(Exception):
    """Base of every error a client can see. Subclasses set ``slug``, ``title`` and ``status``."""

    slug: str = "internal-error"
    title: str = "Internal server error"
    status: int = 500

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(ProblemError):
    slug, title, status = "bad-request", "Bad request", 400


class InvalidPageToken(BadRequest):
    slug, title = "invalid-page-token", "Invalid page token"


class Unauthorized(ProblemError):
    slug, title, status = "unauthorized", "Unauthorized", 401


class Forbidden(ProblemError):
    slug, title, status = "forbidden", "Forbidden", 403


class NotFound(ProblemError):
    slug, title, status = "not-found", "Resource not found", 404


class MethodNotAllowed(ProblemError):
    slug, title, status = "method-not-allowed", "Method not allowed", 405


class Conflict(ProblemError):
    slug, title, status = "conflict", "Conflict", 409


class PreconditionFailed(ProblemError):
    slug, title, status = "precondition-failed", "Precondition failed", 412


class PayloadTooLarge(ProblemError):
    slug, title, status = "payload-too-large", "Payload too large", 413


class UnsupportedMediaType(ProblemError):
    slug, title, status = "unsupported-media-type", "Unsupported media type", 415


class ValidationFailed(ProblemError):
    slug, title, status = "validation-error", "Request validation failed", 422


class InternalError(ProblemError):
    pass


class ServiceUnavailable(ProblemError):
    slug, title, status = "service-unavailable", "Service unavailable", 503


class DatabaseUnavailable(ServiceUnavailable):
    slug, title = "database-unavailable", "Database unavailable"


class RequestTimedOut(ServiceUnavailable):
    slug, title = "request-timeout", "Request timed out"


class ValidationItem(BaseModel):
    """One invalid input: where it is (JSON pointer into the request) and what is wrong."""

    pointer: str = Field(examples=["/body/name"])
    message: str
    code: str = Field(description="Machine-readable reason, e.g. string_too_long.")


class Problem(BaseModel):
    """RFC 9457 problem details. Extension members depend on ``type``."""

    model_config = {"extra": "allow"}

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ValidationItem] | None = None


def problem_body(error: ProblemError, instance: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": error.type_uri,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(error.extensions)
    return body


def problem_response(error: ProblemError, instance: str | None = None) -> Response:
    return Response(
        content=orjson.dumps(problem_body(error, instance), default=str),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


def problem_responses(*errors: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` mapping that declares these errors on a route for OpenAPI."""
    declared: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = declared.setdefault(
            error.status,
            {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": ""},
        )
        titles = [t for t in entry["description"].split("; ") if t]
        if error.title not in titles:
            titles.append(error.title)
        entry["description"] = "; ".join(titles)
    return declared
