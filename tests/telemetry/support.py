"""Signed batches of neighbour events, as Telemetry Ingest and the Artifact Service send them."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from expsvc.webhook.signing import new_secret, webhook_headers

TELEMETRY_SECRET = new_secret()
ARTIFACT_SECRET = new_secret()
TELEMETRY_PATH = "/v1/integrations/telemetry/events"
ARTIFACT_PATH = "/v1/integrations/artifacts/events"

_counter = itertools.count()


def event(
    event_type: str, /, event_id: str | None = None, at: datetime | None = None, **data: Any
) -> dict[str, Any]:
    """An event as a neighbour sends it: ``data`` holds the keyword arguments."""
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "data": data,
    }


def signed(
    body: bytes,
    secret: str = TELEMETRY_SECRET,
    timestamp: int | None = None,
    message_id: str | None = None,
) -> dict[str, str]:
    message_id = message_id or f"msg_{next(_counter)}_{uuid.uuid4().hex[:8]}"
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        **webhook_headers([secret], message_id, stamp, body),
    }


async def send(
    client: httpx.AsyncClient,
    events: list[dict[str, Any]] | dict[str, Any],
    path: str = TELEMETRY_PATH,
    secret: str = TELEMETRY_SECRET,
    expect: int = 200,
) -> dict[str, Any]:
    body = orjson.dumps(events if isinstance(events, dict) else {"events": events})
    response = await client.post(path, content=body, headers=signed(body, secret))
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


def results(answer: dict[str, Any]) -> list[str]:
    return [item["result"] for item in answer["results"]]
