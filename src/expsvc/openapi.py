"""The OpenAPI document: problem+json everywhere, and the errors every route can return."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from expsvc.errors import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_COMMON_ERRORS = {
    "500": "Internal server error",
    "503": "Database unavailable or request timed out; retry after Retry-After seconds",
}
_BODY_ERRORS = {
    "413": "Payload too large",
    "415": "Unsupported media type",
    "422": "Request validation failed",
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def _normalise_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        content = response.get("content", {})
        if PROBLEM_MEDIA_TYPE in content or (
            code == "422" and "HTTPValidationError" in str(content)
        ):
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            if code == "422" and response.get("description") == "Validation Error":
                response["description"] = "Request validation failed"
    extra = dict(_COMMON_ERRORS)
    if path.startswith("/v1/"):
        extra["401"] = "Missing or malformed identity (when an identity header is configured)"
        if "requestBody" in operation:
            extra |= _BODY_ERRORS
    for code, description in extra.items():
        responses.setdefault(code, _problem(description))


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for path, item in schema.get("paths", {}).items():
                for operation in item.values():
                    _normalise_operation(path, operation)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# The engine is created lazily and never connects while building the spec.
_NO_DATABASE = "postgresql://openapi@127.0.0.1:1/none"


def build_openapi() -> dict[str, Any]:
    from expsvc.app import create_app
    from expsvc.settings import Settings

    return create_app(Settings(database_url=_NO_DATABASE)).openapi()
