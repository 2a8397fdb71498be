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

from expsvc.models import capture_sessions, orphan_telemetry


@dataclass
class OrphanSighting:
    """What one batch saw of a ``capture_session_id`` nobody knows."""

    events: int
    event_types: set[str]
    last_event_id: str
    last_payload: dict[str, Any]


# Heartbeats move a timestamp forward only when it gains at least this much: most of a busy
# session's heartbeats then write nothing and take no row lock (runs would serialise on one).
HEARTBEAT_RESOLUTION_SECONDS = 1.0

# The rows due are locked in id order (the CTE), so concurrent batches never wait on each other
# in a cycle; LEAST(seen, now()) keeps a sender's fast clock from stamping the future.
_RUN_HEARTBEATS = text(
    """
    WITH due AS (
        SELECT r.id, LEAST(b.seen, now()) AS seen
        FROM runs AS r
        JOIN unnest(CAST(:ids AS uuid[]), CAST(:seen AS timestamptz[])) AS b(id, seen)
            ON r.id = b.id
        WHERE r.status = 'running' AND (
            r.last_heartbeat_at IS NULL
            OR r.last_heartbeat_at
                < LEAST(b.seen, now()) - make_interval(secs => :resolution)
        )
        ORDER BY r.id
        FOR NO KEY UPDATE OF r
    )
    UPDATE runs AS r SET last_heartbeat_at = due.seen FROM due WHERE r.id = due.id
    """
)
_CAPTURE_HEARTBEATS = text(
    """
    WITH due AS (
        SELECT c.id, LEAST(b.seen, now()) AS seen
        FROM capture_sessions AS c
        JOIN unnest(CAST(:ids AS uuid[]), CAST(:seen AS timestamptz[])) AS b(id, seen)
            ON c.id = b.id
        WHERE c.last_telemetry_at IS NULL
            OR c.last_telemetry_at
                < LEAST(b.seen, now()) - make_interval(secs => :resolution)
        ORDER BY c.id
        FOR NO KEY UPDATE OF c
    )
    UPDATE capture_sessions AS c SET last_telemetry_at = due.seen FROM due WHERE c.id = due.id
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
        """Move last_telemetry_at (and the runs' last_heartbeat_at) forward, never back, to
        the nearest :data:`HEARTBEAT_RESOLUTION_SECONDS`.

        Runs first, then sessions: the order a run finish takes their locks.
        """
        for statement, seen in ((_RUN_HEARTBEATS, running_runs), (_CAPTURE_HEARTBEATS, captures)):
            if seen:
                ids = sorted(seen)
                values = {"ids": ids, "seen": [seen[i] for i in ids]}
                await self.session.execute(
                    statement, {**values, "resolution": HEARTBEAT_RESOLUTION_SECONDS}
                )

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
