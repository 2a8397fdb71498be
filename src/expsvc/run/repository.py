from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, any_, func, literal, select

from expsvc.models import runs
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository, id_array
from expsvc.run.schemas import RunFilter


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RunRepository(EntityRepository):
    table = runs

    def sort_column(self, name: str) -> ColumnElement[Any]:
        # Names sort by code point (COLLATE "C") so the ix_runs_name_c_id index serves them.
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column

    async def search(
        self,
        where: RunFilter,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        return await self.fetch_page(_filtered(select(runs), where), ordering, after, limit)

    async def matching_ids(self, where: RunFilter, limit: int) -> list[uuid.UUID]:
        """Ids of the runs ``where`` selects, in id order, at most ``limit``."""
        query = _filtered(select(runs.c.id), where).order_by(runs.c.id).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def experiment_ids(self, run_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The experiments these runs belong to, in id order (unlocked: it never changes)."""
        query = (
            select(runs.c.experiment_id)
            .where(runs.c.id == any_(id_array(run_ids)))
            .group_by(runs.c.experiment_id)
            .order_by(runs.c.experiment_id)
        )
        return list((await self.session.execute(query)).scalars())

    async def running_ids(self, experiment_id: uuid.UUID, limit: int) -> list[uuid.UUID]:
        query = (
            select(runs.c.id)
            .where(runs.c.experiment_id == experiment_id, runs.c.status == "running")
            .order_by(runs.c.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def count_in_experiment(self, experiment_id: uuid.UUID) -> int:
        query = select(func.count()).where(runs.c.experiment_id == experiment_id)
        return int((await self.session.execute(query)).scalar_one())


def _filtered(query: Select[Any], where: RunFilter) -> Select[Any]:
    if where.experiment_id is not None:
        query = query.where(runs.c.experiment_id == where.experiment_id)
    if where.status:
        query = query.where(runs.c.status.in_([s.value for s in where.status]))
    if where.tag:
        query = query.where(runs.c.tags.contains(sorted(set(where.tag))))
    if where.name_prefix is not None:
        pattern = literal(_escape_like(where.name_prefix) + "%")
        query = query.where(runs.c.name.collate("C").like(pattern, escape="\\"))
    for field in ("created", "started", "finished"):
        column = runs.c[f"{field}_at"]
        low, high = getattr(where, f"{field}_after"), getattr(where, f"{field}_before")
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column < high)
    return query
