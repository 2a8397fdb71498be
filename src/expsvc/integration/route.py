"""The HTTP edge of inbound integrations: signed bodies, one transaction, no Idempotency-Key.

Neighbours authenticate by signature, not through the API Gateway, so these routes resolve no
principal from the identity header; the sender is the actor. The inbox deduplicates by event
id, which is why :class:`IntegrationRoute` skips the Idempotency-Key machinery.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from pydantic import SecretStr, ValidationError
from sqlalchemy import exc as sa_exc
from starlette.responses import Response

from expsvc.auth.principal import Principal
from expsvc.context import ActionContext, action_context
from expsvc.db import IGNORED_KEY_EXTENSION, Database
from expsvc.errors import BadRequest, ValidationFailed
from expsvc.integration.processor import validation_detail
from expsvc.integration.schemas import MAX_BATCH_EVENTS, EventBatch
from expsvc.integration.signature import IntegrationDisabled, verify
from expsvc.lifecycle import Source

# Deadlock and serialization failure: the batch met another transaction's locks in a cycle.
# Nothing was applied; running it again (at most this many times) almost always succeeds.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_ATTEMPTS = 3


class IntegrationRoute(APIRoute):
    """One transaction per request, committed before the response; retried on deadlock.

    ``Idempotency-Key`` is ignored (the operation says so in OpenAPI, as RepeatableRoute's do):
    each event's id is its idempotency key.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        extra = options.get("openapi_extra") or {}
        options["openapi_extra"] = {**extra, IGNORED_KEY_EXTENSION: "ignored"}
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_transaction(request: Request) -> Response:
            database: Database = request.app.state.database
            for attempt in range(1, _ATTEMPTS + 1):
                async with database.sessionmaker() as session:
                    request.state.db_session = session
                    try:
                        response = await handler(request)
                        if response.status_code < 400 and session.in_transaction():
                            await session.commit()
                        return response
                    except sa_exc.DBAPIError as error:
                        if attempt == _ATTEMPTS or _sqlstate(error) not in _RETRYABLE_SQLSTATES:
                            raise
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)
            raise AssertionError("unreachable")

        return in_transaction


def _sqlstate(error: sa_exc.DBAPIError) -> str | None:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return str(code) if code else None


async def signed_events(request: Request, secret: SecretStr | None, name: str) -> list[Any]:
    """The events of a correctly signed request body; 404 when ``secret`` is unset."""
    if secret is None:
        raise IntegrationDisabled(f"the {name} integration is not configured on this service")
    body = await request.body()
    verify(secret.get_secret_value().split(), request.headers, body, time.time())
    return parse_batch(body)


def parse_batch(body: bytes) -> list[Any]:
    """``[...]`` or ``{"events": [...]}``, at most :data:`MAX_BATCH_EVENTS` events."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if isinstance(document, list):
        document = {"events": document}
    try:
        return EventBatch.model_validate(document).events
    except ValidationError as error:
        raise ValidationFailed(
            f"expected a JSON array of at most {MAX_BATCH_EVENTS} event objects, or "
            f'{{"events": [...]}}: {validation_detail(error)}'
        ) from None


async def integration_context(request: Request, sender: str) -> ActionContext:
    """The context of changes an inbound event makes: the sender acts, source ``integration``."""
    base = await action_context(request, Principal(sender))
    return ActionContext(
        principal=base.principal,
        request_id=base.request_id,
        source=Source.integration,
        traceparent=base.traceparent,
        client_address=base.client_address,
    )


def signed_request_openapi(batch_schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a signed batch endpoint: the signature headers and the body."""
    header = {"type": "string"}
    return {
        "parameters": [
            {
                "name": "webhook-id",
                "in": "header",
                "required": True,
                "schema": {**header, "maxLength": 255},
                "description": "Message id, signed with the body.",
            },
            {
                "name": "webhook-timestamp",
                "in": "header",
                "required": True,
                "schema": {**header, "pattern": "^[0-9]{1,12}$"},
                "description": "Unix seconds; refused when more than 5 minutes off.",
            },
            {
                "name": "webhook-signature",
                "in": "header",
                "required": True,
                "schema": header,
                "description": (
                    "Space-separated v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>."
                ),
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": batch_schema}},
        },
    }
