"""The HTTP edge of inbound integrations: signed bodies and the context of their changes.

Neighbours authenticate by signature, not through the API Gateway, so these routes resolve no
principal from the identity header; the sender is the actor. The inbox deduplicates by event
id, which is why their route class (:class:`expsvc.routing.IntegrationRoute`) skips the
Idempotency-Key machinery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from pydantic import SecretStr, ValidationError

from expsvc.auth.principal import Principal
from expsvc.context import ActionContext, action_context
from expsvc.errors import BadRequest, ValidationFailed
from expsvc.integration.processor import validation_detail
from expsvc.integration.schemas import MAX_BATCH_EVENTS, EventBatch
from expsvc.integration.signature import IntegrationDisabled, signature_headers, verify
from expsvc.lifecycle import Source

Clock = Callable[[], float]


# ``app.state`` attribute: the clock signature timestamps are checked against, when not the
# wall clock (a test pins it there).
SIGNATURE_CLOCK_STATE = "signature_clock"


async def wall_clock(request: Request) -> Clock:
    """The clock signature timestamps are checked against: Unix seconds; the app's
    ``state.signature_clock`` when set (tests pin the tolerance boundary with it)."""
    clock: Clock = getattr(request.app.state, SIGNATURE_CLOCK_STATE, time.time)
    return clock


SignatureClock = Annotated[Clock, Depends(wall_clock)]


async def signed_events(
    request: Request, secret: SecretStr | None, name: str, clock: Clock = time.time
) -> list[Any]:
    """The events of a correctly signed request body; 404 when ``secret`` is unset (to a
    request that carries the signature headers: one that does not is 401 in any case)."""
    if secret is None:
        signature_headers(request.headers)
        raise IntegrationDisabled(f"the {name} integration is not configured on this service")
    body = await request.body()
    verify(secret.get_secret_value().split(), request.headers, body, clock())
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
    """The context of changes an inbound event makes: the sender acts, source ``integration``.
    A neighbour whose signature verified acts on any experiment (grants are for people)."""
    base = await action_context(request, Principal(sender, is_admin=True))
    return ActionContext(
        principal=base.principal,
        request_id=base.request_id,
        source=Source.integration,
        traceparent=base.traceparent,
        client_address=base.client_address,
        server_request_id=base.server_request_id,
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
