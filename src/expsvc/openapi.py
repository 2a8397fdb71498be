"""The OpenAPI document: problem+json everywhere, and the errors every route can return."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import SecretStr

from expsvc.deprecation import mark_deprecated
from expsvc.errors import PROBLEM_MEDIA_TYPE
from expsvc.settings import AuthMode, Settings

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


def _problem_schema(code: str, content: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of a problem response, or None if this response is not a problem."""
    if code == "422" and "HTTPValidationError" in str(content):
        return _PROBLEM_REF
    if PROBLEM_MEDIA_TYPE not in content:
        return None
    # A route may declare a richer problem model (e.g. readiness); FastAPI files it as JSON.
    declared: dict[str, Any] | None = content.get("application/json", {}).get("schema")
    return declared or _PROBLEM_REF


def _optional_body_without_null(operation: dict[str, Any]) -> None:
    """An optional body is omitted, not sent as ``null``: ``X | None = None`` becomes ``X``.

    Generated clients then leave the body out when the caller does; with ``anyOf [X, null]``
    openapi-python-client would try to send its "unset" marker as JSON.
    """
    body = operation.get("requestBody")
    if body is None or body.get("required"):
        return
    for media in body.get("content", {}).values():
        choices = media.get("schema", {}).get("anyOf", [])
        others = [choice for choice in choices if choice != {"type": "null"}]
        if len(choices) == 2 and len(others) == 1:
            media["schema"] = others[0]


def _parameters_without_null(operation: dict[str, Any]) -> None:
    """A parameter is absent or a string on the wire, never ``null``: FastAPI's ``anyOf [X,
    null]`` for an optional one becomes ``X``, with the keywords declared beside it (a pattern,
    a description) moved inside, where they constrain the string."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        choices = schema.get("anyOf", [])
        others = [choice for choice in choices if choice != {"type": "null"}]
        if len(others) == len(choices):
            continue
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if rest.get("default", "") is None:
            del rest["default"]
        parameter["schema"] = (
            {**others[0], **rest} if len(others) == 1 else {**rest, "anyOf": others}
        )


def _normalise_operation(path: str, operation: dict[str, Any]) -> None:
    _optional_body_without_null(operation)
    _parameters_without_null(operation)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in responses.items():
        schema = _problem_schema(code, response.get("content", {}))
        if schema is not None:
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": schema}}
            if code == "422" and response.get("description") == "Validation Error":
                response["description"] = "Request validation failed"
    extra = dict(_COMMON_ERRORS)
    if path.startswith("/v1/"):
        extra["401"] = "Missing, invalid or expired credentials (EXPSVC_AUTH_MODE)"
        if not path.startswith("/v1/integrations/"):  # those authenticate by signature
            extra["403"] = "Forbidden: a principal reserved for the service, or not an admin"
        if "requestBody" in operation:
            extra |= _BODY_ERRORS
    for code, description in extra.items():
        responses.setdefault(code, _problem(description))
    # Status codes in order, whatever order the routes declared them in: a stable document.
    operation["responses"] = dict(sorted(responses.items()))


# Which operation's 201 answer (its body's ``id``) names the resource of a path parameter.
_CREATED_BY = {
    "experiment_id": ("create_experiment",),
    "run_id": ("create_run", "create_run_in_experiment"),
    "capture_id": ("create_capture",),
    "webhook_id": ("create_webhook",),
    "token_id": ("create_api_token",),
}


def _declare_links(paths: dict[str, Any]) -> None:
    """OpenAPI links from each creating operation to every operation on what it created (get,
    update, transitions, sub-resources), so tools (and readers) can follow them."""
    operations = [op for item in paths.values() for op in item.values()]
    creators = {op["operationId"]: op for op in operations if op.get("operationId")}
    for target in operations:
        for parameter in target.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] != "path" or name not in _CREATED_BY:
                continue
            for creator_id in _CREATED_BY[name]:
                created = creators[creator_id]["responses"]["201"]
                created.setdefault("links", {})[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {name: "$response.body#/id"},
                }


def _declare_security(schema: dict[str, Any], settings: Settings) -> None:
    """How callers authenticate, as this process is configured (EXPSVC_AUTH_MODE): nothing in
    ``none`` (the committed document's mode), else required on every /v1 operation but the
    signed integration endpoints."""
    if settings.auth_mode is AuthMode.jwt:
        scheme: dict[str, Any] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A JWT from the API Gateway, or an API token (expsvc_...).",
        }
    elif settings.auth_mode is AuthMode.header and settings.identity_header is not None:
        scheme = {
            "type": "apiKey",
            "in": "header",
            "name": settings.identity_header,
            "description": "The caller's identity, set by a trusted proxy (the API Gateway).",
        }
    else:
        return
    schema["components"]["securitySchemes"] = {"caller": scheme}
    for path, item in schema.get("paths", {}).items():
        if path.startswith("/v1/") and not path.startswith("/v1/integrations/"):
            for operation in item.values():
                operation["security"] = [{"caller": []}]


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
            _declare_links(schema.get("paths", {}))
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            mark_deprecated(schema, getattr(app.state, "deprecations", {}))
            _declare_security(schema, app.state.settings)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# The engine is created lazily and never connects while building the spec.
_NO_DATABASE = "postgresql://openapi@127.0.0.1:1/none"


def build_openapi() -> dict[str, Any]:
    from expsvc.app import create_app
    from expsvc.secret.keys import generate_key

    # A throwaway key: nothing is sealed while building the spec.
    settings = Settings(database_url=_NO_DATABASE, secret_keys=SecretStr(generate_key()))
    return create_app(settings).openapi()


def render_openapi(document: dict[str, Any]) -> str:
    """The committed form of the document (docs/openapi/v1.json): keys in the order the app
    builds them, status codes sorted, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
