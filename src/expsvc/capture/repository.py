from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, any_, func, select, update
from sqlalchemy.dialects.postgresql import insert

from expsvc.auth.access import access_parameters, may
from expsvc.auth.principal import Principal
from expsvc.capture.schemas import CaptureQuery
from expsvc.lifecycle import Status
from expsvc.models import capture_sessions, runs
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository, id_array


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

    async def stop_running_of_runs(
        self, run_ids: Sequence[uuid.UUID], sources: Collection[Status], values: dict[str, Any]
    ) -> list[Row[Any]]:
        """Apply ``values`` to every capture session of the runs in one of ``sources`` (the
        statuses the action table lets stop); the updated rows, in id order."""
        table = capture_sessions
        query = (
            update(table)
            .where(
                table.c.run_id == any_(id_array(run_ids)),
                table.c.status.in_([status.value for status in sources]),
            )
            .values(**values, version=table.c.version + 1, updated_at=func.now())
            .returning(table)
        )
        rows = (await self.session.execute(query)).all()
        return sorted(rows, key=lambda row: row.id)
