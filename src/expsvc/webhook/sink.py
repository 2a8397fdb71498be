"""The ``webhooks`` sink: turns each published event into one delivery per subscribed endpoint.

It writes rows in the relay's transaction (a :class:`~expsvc.event.sinks.DatabaseSink`), so an
event becomes deliveries exactly once, however the relay crashes; the delivery worker sends them.
An endpoint receives the events of the types it subscribes to (all when it names none) and of the
experiments it names (all when none) that occurred after it was created, of entities its owner
may read (:mod:`expsvc.webhook.audience`).

With no active endpoint the sink writes nothing, and then says so for a second
(:meth:`WebhookSink.quiet_for`): the relay leaves its cursor behind meanwhile instead of
spending a transaction per batch on it. Nothing is lost by lagging: an endpoint receives only
events that occurred after it was created, so catching up later fans out exactly the rows an
immediate pass would have; an endpoint's first events just wait up to that second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.ids import new_id
from expsvc.webhook.audience import NO_ADMINS, WebhookAdmins, readable_events
from expsvc.webhook.repository import DeliveryRepository, WebhookRepository

_QUIET_SECONDS = 1.0


class WebhookSink:
    name = "webhooks"

    def __init__(self, max_attempts: int, admins: WebhookAdmins = NO_ADMINS) -> None:
        self.max_attempts = max_attempts
        # Owners whose webhooks receive every event (the others: their experiments' only).
        self.admins = admins
        self._no_endpoints_until = 0.0  # time.monotonic()

    def quiet_for(self) -> float:
        return max(0.0, self._no_endpoints_until - time.monotonic())

    async def publish_in(self, session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
        endpoints = await WebhookRepository(session).subscribed()
        if not endpoints:
            self._no_endpoints_until = time.monotonic() + _QUIET_SECONDS
            return
        candidates = [
            (endpoint, event)
            for event in events
            for endpoint in endpoints
            if (not endpoint.event_types or event["type"] in endpoint.event_types)
            and endpoint.created_at <= datetime.fromisoformat(event["time"])
        ]
        if not candidates:
            return
        # An owner receives only events of what it may read (checked when they fan out). Each
        # data version of an event is its own delivery (its own id); all share the event's
        # position in the log, by which the outbox row is found.
        allowed = await readable_events(
            session,
            sorted({int(event["sequence"]) for _, event in candidates}),
            {endpoint.id: endpoint for endpoint, _ in candidates}.values(),
            self.admins,
        )
        rows = [
            self._delivery(endpoint.id, event)
            for endpoint, event in candidates
            if _wanted(endpoint, allowed, int(event["sequence"]))
        ]
        if rows:
            deliveries = DeliveryRepository(session)
            await deliveries.fan_out(rows)
            await deliveries.notify()

    def _delivery(self, endpoint_id: uuid.UUID, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id(),
            "endpoint_id": endpoint_id,
            "event_id": uuid.UUID(event["id"]),
            "event_type": event["type"],
            "payload": event,
            "max_attempts": self.max_attempts,
        }

    async def close(self) -> None:
        pass


def _wanted(
    endpoint: Row[Any], allowed: dict[tuple[int, uuid.UUID], uuid.UUID | None], sequence: int
) -> bool:
    """The owner may read the event, and it is of one of the endpoint's experiments (if any)."""
    key = (sequence, endpoint.id)
    if key not in allowed:
        return False
    return not endpoint.experiment_ids or allowed[key] in endpoint.experiment_ids
