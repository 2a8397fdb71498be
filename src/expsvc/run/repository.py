from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, func, literal, select

from expsvc.models import runs
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository
from expsvc.run.schemas import RunQuery


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
        where: RunQuery,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        query = select(runs)
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
        return await self.fetch_page(query, ordering, after, limit)

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
