from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Text, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import UUID, insert

from expsvc.auth.access import access_parameters, may
from expsvc.auth.principal import Principal
from expsvc.capture.schemas import CaptureQuery
from expsvc.driver import fetch_rows
from expsvc.lifecycle import TRANSITIONS, Action, timestamp_column
from expsvc.models import capture_sessions, runs
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository, PlainArray


def _stop_of_runs_statement() -> Any:
    """``UPDATE`` of the stoppable capture sessions of the runs ``:run_ids`` (one ``uuid[]``),
    built once: the target, its timestamp and the sources from the action table."""
    table = capture_sessions
    stop = TRANSITIONS[Action.stop]
    sources = sorted(status.value for status in stop.sources)
    values = {"status": stop.target.value, timestamp_column(stop.target): func.now()}
    run_ids = bindparam("run_ids", type_=PlainArray(UUID(as_uuid=True)))
    return (
        update(table)
        .where(
            table.c.run_id == any_(run_ids),
            table.c.status == any_(bindparam("stop_sources", sources, type_=PlainArray(Text()))),
        )
        .values(**values, version=table.c.version + 1, updated_at=func.now())
        .returning(table)
    )


_STOP_OF_RUNS = _stop_of_runs_statement()


class CaptureRepository(EntityRepository):
    table = capture_sessions

    @classmethod
    def experiment_of(cls) -> ColumnElement[Any]:
        """A capture's experiment is its run's."""
        # correlate_except: the capture row is the outer query's, however deep the access
        # predicate nests this (auto-correlation only reaches the enclosing SELECT).
        return (
            select(runs.c.experiment_id)
            .where(runs.c.id == capture_sessions.c.run_id)
            .correlate_except(runs)
            .scalar_subquery()
        )

    async def insert_unless_taken(self, values: dict[str, Any]) -> Row[Any] | None:
        """Insert the session; None if its ``capture_session_id`` is already taken.

        ``ON CONFLICT DO NOTHING`` waits for a concurrent insert of the same id to end, so two
        racing creates never both succeed, and the loser's transaction stays usable.
        """
        table = capture_sessions
        query = (
            insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[table.c.capture_session_id])
            .returning(table)
        )
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def run_of(self, capture_id: uuid.UUID) -> uuid.UUID | None:
        query = select(capture_sessions.c.run_id).where(capture_sessions.c.id == capture_id)
        run_id: uuid.UUID | None = (await self.session.execute(query)).scalar_one_or_none()
        return run_id

    async def id_taken(self, capture_session_id: str) -> bool:
        query = select(capture_sessions.c.id).where(
            capture_sessions.c.capture_session_id == capture_session_id
        )
        return (await self.session.execute(query)).first() is not None

    async def search(
        self,
        where: CaptureQuery,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        table = capture_sessions
        query = select(table)
        if where.run_id is not None:
            query = query.where(table.c.run_id == where.run_id)
        if where.status:
            query = query.where(table.c.status.in_([s.value for s in where.status]))
        if where.sensor:
            # @> on the GIN index ix_capture_sessions_sensors.
            query = query.where(table.c.sensors.contains(sorted(set(where.sensor))))
        if where.capture_session_id is not None:
            query = query.where(table.c.capture_session_id == where.capture_session_id)
        query = query.where(may(self.experiment_of()))
        after_null = None if after is None else after[0] is None
        statement = self.page_statement(query, ordering, after_null)
        return await self.fetch_built_page(statement, after, limit, access_parameters(principal))

    async def stop_running_of_runs(self, run_ids: Sequence[uuid.UUID]) -> list[Any]:
        """Stop every capture session of the runs that the action table lets stop (source
        ``system``); the stopped rows, in id order."""
        rows = await fetch_rows(self.session, _STOP_OF_RUNS, {"run_ids": list(run_ids)})
        return sorted(rows, key=lambda row: row.id)
