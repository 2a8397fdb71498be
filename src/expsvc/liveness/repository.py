from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role, access_parameters, may
from expsvc.auth.principal import Principal
from expsvc.models import experiments, runs

HEARTBEAT_LOST = "heartbeat_lost"
MAX_DURATION_EXCEEDED = "max_duration_exceeded"
# Inlined, not a bind parameter: a generic plan of the prepared statement can then still use the
# partial index ix_runs_running_started_at (WHERE status = 'running').
_RUNNING: ColumnElement[str] = literal_column("'running'")
_ONE_SECOND: ColumnElement[object] = literal_column("interval '1 second'")


_BEAT = (
    update(runs)
    .where(
        runs.c.id == bindparam("beat_run_id"),
        runs.c.status == _RUNNING,
        may(runs.c.experiment_id),
    )
    .values(last_heartbeat_at=func.now())
    .returning(runs.c.id)
)


@dataclass(frozen=True)
class StaleRun:
    id: uuid.UUID
    reason: str


def _seconds(value: ColumnElement[int]) -> ColumnElement[Any]:
    return value * _ONE_SECOND


class LivenessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, run_id: uuid.UUID, principal: Principal) -> bool:
        """Record a heartbeat of a running run the caller may edit; False if the run is not
        running, absent, or not the caller's to change (the grant check rides in the update).

        Only ``last_heartbeat_at`` changes, no indexed column: the update can stay HOT.
        """
        # Execution values: no key names a column of runs (those would become SET clauses).
        values = {"beat_run_id": run_id, **access_parameters(principal, Role.editor)}
        return (await self.session.execute(_BEAT, values)).first() is not None

    async def claim_stale(
        self, heartbeat_timeout: int, max_duration: int | None, limit: int
    ) -> list[StaleRun]:
        """Lock up to ``limit`` running runs past their heartbeat timeout or maximum duration.

        ``FOR NO KEY UPDATE SKIP LOCKED``: runs another worker (or a request) has locked are
        skipped, so concurrent reapers never take the same run. See :func:`stale_runs_query`.
        """
        query = stale_runs_query(heartbeat_timeout, max_duration, limit)
        rows = (await self.session.execute(query)).all()
        return [StaleRun(row.id, row.reason) for row in rows]


def stale_runs_query(heartbeat_timeout: int, max_duration: int | None, limit: int) -> Select[Any]:
    """Running runs past their limits, oldest start first, locked ``SKIP LOCKED``.

    The limits come from the run, else its experiment, else the arguments (the settings). A run
    past both is reported as ``heartbeat_lost``, the likelier cause. Walks the partial index
    ``ix_runs_running_started_at`` (running runs only), never the whole table.
    """
    timeout = func.coalesce(
        runs.c.heartbeat_timeout_seconds,
        experiments.c.heartbeat_timeout_seconds,
        literal(heartbeat_timeout, Integer),
    )
    fallback = () if max_duration is None else (literal(max_duration, Integer),)
    longest = func.coalesce(
        runs.c.max_duration_seconds, experiments.c.max_duration_seconds, *fallback
    )
    silent = func.coalesce(runs.c.last_heartbeat_at, runs.c.started_at) < (
        func.now() - _seconds(timeout)
    )
    too_long = and_(longest.is_not(None), runs.c.started_at < func.now() - _seconds(longest))
    return (
        select(
            runs.c.id,
            case((silent, HEARTBEAT_LOST), else_=MAX_DURATION_EXCEEDED).label("reason"),
        )
        .join(experiments, experiments.c.id == runs.c.experiment_id)
        .where(runs.c.status == _RUNNING, or_(silent, too_long))
        .order_by(runs.c.started_at)
        .limit(limit)
        .with_for_update(of=runs, skip_locked=True, key_share=True)
    )
