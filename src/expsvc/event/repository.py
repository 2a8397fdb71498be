from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import event_sink_cursors, outbox_events


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(outbox_events), list(rows))

    async def sequence_pending(self, limit: int) -> int:
        """Give committed, unsequenced events a ``seq`` in id order; how many were sequenced.

        Run by one process at a time (the caller holds an advisory lock), so sequencing
        transactions are serial and ``seq`` never has a hole a reader could step over.
        """
        pending = (
            select(outbox_events.c.id)
            .where(outbox_events.c.seq.is_(None))
            .order_by(outbox_events.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("pending")
        )
        numbered = select(
            pending.c.id, literal_column("nextval('outbox_event_seq')").label("seq")
        ).cte("numbered")
        # nextval() in a CTE over an ordered scan keeps the id order within the batch.
        query = (
            update(outbox_events)
            .where(outbox_events.c.id == numbered.c.id)
            .values(seq=numbered.c.seq, sequenced_at=func.clock_timestamp())
        )
        result = await self.session.execute(query)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def read_after(
        self, after_seq: int, limit: int, types: Sequence[str] = ()
    ) -> Sequence[Row[Any]]:
        query = select(outbox_events).where(outbox_events.c.seq > after_seq)
        if types:
            query = query.where(outbox_events.c.type.in_(list(types)))
        query = query.order_by(outbox_events.c.seq).limit(limit)
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def oldest_seq(self) -> int | None:
        value = await self.session.scalar(select(func.min(outbox_events.c.seq)))
        return None if value is None else int(value)

    async def claim_cursor(self, sink: str) -> int | None:
        """Lock the sink's cursor for this transaction; None if another relay holds it."""
        await self.session.execute(
            pg_insert(event_sink_cursors).values(sink=sink).on_conflict_do_nothing()
        )
        query = (
            select(event_sink_cursors.c.last_seq)
            .where(event_sink_cursors.c.sink == sink)
            .with_for_update(skip_locked=True)
        )
        value = (await self.session.execute(query)).scalar_one_or_none()
        return None if value is None else int(value)

    async def advance_cursor(self, sink: str, last_seq: int, published: int) -> None:
        await self.session.execute(
            update(event_sink_cursors)
            .where(event_sink_cursors.c.sink == sink)
            .values(
                last_seq=last_seq,
                published=event_sink_cursors.c.published + published,
                last_error=None,
                updated_at=func.now(),
            )
        )

    async def record_error(self, sink: str, error: str) -> None:
        await self.session.execute(
            update(event_sink_cursors)
            .where(event_sink_cursors.c.sink == sink)
            .values(last_error=error[:2000], updated_at=func.now())
        )

    async def backlog(self, sinks: Sequence[str]) -> dict[str, tuple[int, float | None]]:
        """Per sink: events not yet published, and the age in seconds of the oldest one."""
        result: dict[str, tuple[int, float | None]] = {}
        for sink in sinks:
            row = (
                await self.session.execute(
                    text(
                        "SELECT count(*), extract(epoch FROM now() - min(e.created_at)) "
                        "FROM outbox_events e WHERE e.seq IS NULL OR e.seq > coalesce("
                        "(SELECT last_seq FROM event_sink_cursors WHERE sink = :sink), 0)"
                    ),
                    {"sink": sink},
                )
            ).one()
            result[sink] = (int(row[0]), None if row[1] is None else float(row[1]))
        return result

    async def purge_delivered(self, sinks: Sequence[str], older_than_seconds: float) -> int:
        """Delete events every sink has published and that are past retention."""
        floor = (
            select(func.coalesce(func.min(event_sink_cursors.c.last_seq), 0))
            .where(event_sink_cursors.c.sink.in_(list(sinks)))
            .scalar_subquery()
        )
        result = await self.session.execute(
            outbox_events.delete().where(
                outbox_events.c.seq <= floor,
                outbox_events.c.created_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()
