"""SQL of inbound telemetry: finding sessions by Ingest's id, heartbeats, orphans."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnClause, Row, Select, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import capture_sessions, orphan_telemetry, runs


@dataclass
class OrphanSighting:
    """What one batch saw of a ``capture_session_id`` nobody knows."""

    events: int
    event_types: set[str]
    last_event_id: str
    last_payload: dict[str, Any]


# GREATEST ignores NULL; LEAST(seen, now()) keeps a sender's fast clock from stamping the future.
_RUN_HEARTBEATS = text(
    """
    UPDATE runs AS r
    SET last_heartbeat_at = GREATEST(r.last_heartbeat_at, LEAST(b.seen, now()))
    FROM unnest(CAST(:ids AS uuid[]), CAST(:seen AS timestamptz[])) AS b(id, seen)
    WHERE r.id = b.id AND r.status = 'running'
    """
)
_CAPTURE_HEARTBEATS = text(
    """
    UPDATE capture_sessions AS c
    SET last_telemetry_at = GREATEST(c.last_telemetry_at, LEAST(b.seen, now()))
    FROM unnest(CAST(:ids AS uuid[]), CAST(:seen AS timestamptz[])) AS b(id, seen)
    WHERE c.id = b.id
    """
)
_MERGED_TYPES: ColumnClause[Any] = literal_column(
    "ARRAY(SELECT DISTINCT t FROM unnest(orphan_telemetry.event_types || excluded.event_types)"
    " AS t ORDER BY t)"
)


class TelemetryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sessions(self, capture_session_ids: Collection[str]) -> dict[str, Row[Any]]:
        """The capture sessions (id, run_id, status) known by these ids, by id."""
        if not capture_session_ids:
            return {}
        table = capture_sessions
        query: Select[Any] = select(
            table.c.id, table.c.run_id, table.c.status, table.c.capture_session_id
        )
        query = query.where(table.c.capture_session_id.in_(sorted(capture_session_ids)))
        return {row.capture_session_id: row for row in (await self.session.execute(query)).all()}

    async def record_heartbeats(
        self, captures: Mapping[uuid.UUID, datetime], running_runs: Mapping[uuid.UUID, datetime]
    ) -> None:
        """Move last_telemetry_at (and the runs' last_heartbeat_at) forward, never back.

        Rows are locked runs first, then sessions, each in id order — the order a run finish
        takes them — so concurrent batches and run transitions do not deadlock on them.
        """
        if running_runs:
            ids = sorted(running_runs)
            await self._lock_in_order(runs, ids)
            await self.session.execute(
                _RUN_HEARTBEATS, {"ids": ids, "seen": [running_runs[i] for i in ids]}
            )
        if captures:
            ids = sorted(captures)
            await self._lock_in_order(capture_sessions, ids)
            await self.session.execute(
                _CAPTURE_HEARTBEATS, {"ids": ids, "seen": [captures[i] for i in ids]}
            )

    async def _lock_in_order(self, table: Any, ids: list[uuid.UUID]) -> None:
        query = (
            select(table.c.id)
            .where(table.c.id.in_(ids))
            .order_by(table.c.id)
            .with_for_update(key_share=True)
        )
        await self.session.execute(query)

    async def record_orphans(self, sightings: Mapping[str, OrphanSighting]) -> None:
        if not sightings:
            return
        table = orphan_telemetry
        statement = insert(table).values(
            [
                {
                    "capture_session_id": capture_session_id,
                    "events": sighting.events,
                    "event_types": sorted(sighting.event_types),
                    "last_event_id": sighting.last_event_id,
                    "last_payload": sighting.last_payload,
                }
                for capture_session_id, sighting in sorted(sightings.items())
            ]
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.capture_session_id],
            set_={
                "last_seen_at": func.clock_timestamp(),
                "events": table.c.events + statement.excluded.events,
                "event_types": _MERGED_TYPES,
                "last_event_id": statement.excluded.last_event_id,
                "last_payload": statement.excluded.last_payload,
            },
        )
        await self.session.execute(statement)
