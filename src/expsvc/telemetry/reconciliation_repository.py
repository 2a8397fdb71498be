"""SQL of the capture reconciliation: the sessions each rule acts on, orphans, reports."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.lifecycle import TERMINAL
from expsvc.models import (
    capture_reconciliation_reports,
    capture_sessions,
    orphan_telemetry,
    runs,
)

_cs = capture_sessions
_reports = capture_reconciliation_reports
_orphans = orphan_telemetry
_AGE = text("now() - make_interval(secs => :age)")


class ReconciliationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_running(self, victims: Select[Any]) -> list[uuid.UUID]:
        """Lock the running sessions of ``victims`` (a query of ids); their ids, in id order.

        Rows another transaction holds are skipped (the next pass gets them), so a pass never
        waits behind a request; the query's conditions are checked again under the lock.
        """
        locked = victims.where(_cs.c.status == "running").with_for_update(
            skip_locked=True, key_share=True
        )
        return sorted((await self.session.execute(locked)).scalars())

    @staticmethod
    def of_closed_runs(limit: int) -> Select[Any]:
        closed = select(runs.c.id).where(
            runs.c.id == _cs.c.run_id, runs.c.status.in_([s.value for s in TERMINAL])
        )
        return select(_cs.c.id).where(exists(closed)).order_by(_cs.c.id).limit(limit)

    @staticmethod
    def silent_for(seconds: float, limit: int) -> Select[Any]:
        last_seen = func.coalesce(_cs.c.last_telemetry_at, _cs.c.started_at)
        cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)
        return select(_cs.c.id).where(last_seen < cutoff).order_by(_cs.c.id).limit(limit)

    @staticmethod
    def with_capture_session_ids(ids: Sequence[str]) -> Select[Any]:
        return select(_cs.c.id).where(_cs.c.capture_session_id.in_(list(ids))).order_by(_cs.c.id)

    async def running_after(self, after: uuid.UUID | None, limit: int) -> Sequence[Row[Any]]:
        """A page of running sessions in id order: id, run_id, capture_session_id, telemetry."""
        query: Select[Any] = select(
            _cs.c.id, _cs.c.run_id, _cs.c.capture_session_id, _cs.c.last_telemetry_at
        ).where(_cs.c.status == "running")
        if after is not None:
            query = query.where(_cs.c.id > after)
        rows: Sequence[Row[Any]] = (
            await self.session.execute(query.order_by(_cs.c.id).limit(limit))
        ).all()
        return rows

    async def orphan_totals(self) -> tuple[int, int]:
        query = select(func.count(), func.coalesce(func.sum(_orphans.c.events), 0))
        count, events = (await self.session.execute(query)).one()
        return int(count), int(events)

    async def recent_orphans(self, limit: int) -> Sequence[Row[Any]]:
        known = exists(
            select(_cs.c.id).where(_cs.c.capture_session_id == _orphans.c.capture_session_id)
        )
        query = (
            select(_orphans, known.label("capture_exists"))
            .order_by(_orphans.c.last_seen_at.desc(), _orphans.c.capture_session_id)
            .limit(limit)
        )
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def purge_orphans(self, older_than_hours: float) -> int:
        query = delete(_orphans).where(_orphans.c.last_seen_at < _AGE)
        result = await self.session.execute(query, {"age": older_than_hours * 3600})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def save_report(
        self, started_at: datetime, finished_at: datetime, report: dict[str, Any], keep: int
    ) -> int:
        query = (
            _reports.insert()
            .values(started_at=started_at, finished_at=finished_at, report=report)
            .returning(_reports.c.id)
        )
        report_id = int((await self.session.execute(query)).scalar_one())
        await self.session.execute(delete(_reports).where(_reports.c.id <= report_id - keep))
        return report_id

    async def last_report(self) -> Row[Any] | None:
        query = select(_reports).order_by(_reports.c.id.desc()).limit(1)
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row
