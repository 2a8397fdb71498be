"""Writing events into the outbox, inside the transaction of the change they describe."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.context import ActionContext
from expsvc.event.repository import OutboxRepository
from expsvc.lifecycle import EntityKind


def entity_snapshot(row: Row[Any] | Any) -> dict[str, Any]:
    """The entity as the API shows it, from a table row (or a read model)."""
    mapping = row._asdict() if isinstance(row, Row) else row.model_dump()
    snapshot: dict[str, Any] = to_jsonable_python(mapping)
    return snapshot


class EventRecorder:
    def __init__(self, session: AsyncSession) -> None:
        self.outbox = OutboxRepository(session)

    async def record(
        self,
        event_type: str,
        kind: EntityKind,
        entities: Sequence[Row[Any] | Any],
        context: ActionContext,
        **details: Any,
    ) -> None:
        """One event per entity: ``data`` holds the entity after the change under its kind
        (``data.run``), the actor, the source and ``details`` (previous_status, reason ...)."""
        await self.record_each(event_type, kind, entities, context, [details] * len(entities))

    async def record_each(
        self,
        event_type: str,
        kind: EntityKind,
        entities: Sequence[Row[Any] | Any],
        context: ActionContext,
        details: Sequence[dict[str, Any]],
    ) -> None:
        """Like :meth:`record`, with details of its own for each entity."""
        now = datetime.now(UTC)
        common: dict[str, Any] = {"actor": context.actor, "source": context.source.value}
        if context.batch_id is not None:
            common["batch_id"] = str(context.batch_id)
        await self.outbox.append(
            [
                {
                    "event_id": uuid.uuid4(),
                    "type": event_type,
                    "entity_type": kind.value,
                    "entity_id": entity.id,
                    "occurred_at": now,
                    "data": {
                        kind.value: entity_snapshot(entity),
                        **common,
                        **to_jsonable_python(extra),
                    },
                    "traceparent": context.traceparent,
                    "request_id": context.request_id,
                }
                for entity, extra in zip(entities, details, strict=True)
            ]
        )
