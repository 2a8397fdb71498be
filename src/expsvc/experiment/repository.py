from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import experiments as _table


@dataclass(frozen=True)
class ExperimentFilter:
    statuses: Sequence[str] = ()
    tags: Sequence[str] = ()


class ExperimentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> Row[Any]:
        result = await self.session.execute(insert(_table).values(**values).returning(_table))
        row: Row[Any] = result.one()
        return row

    async def get(self, experiment_id: uuid.UUID) -> Row[Any] | None:
        result = await self.session.execute(select(_table).where(_table.c.id == experiment_id))
        return result.one_or_none()

    async def list(
        self,
        where: ExperimentFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """Newest first; ``after`` is the (created_at, id) of the last row already served."""
        query = select(_table)
        if where.statuses:
            query = query.where(_table.c.status.in_(where.statuses))
        if where.tags:
            query = query.where(_table.c.tags.contains(list(where.tags)))
        if after is not None:
            query = query.where(tuple_(_table.c.created_at, _table.c.id) < tuple_(*after))
        query = query.order_by(_table.c.created_at.desc(), _table.c.id.desc()).limit(limit)
        result = await self.session.execute(query)
        return result.all()

    async def update(
        self,
        experiment_id: uuid.UUID,
        values: dict[str, Any],
        versions: frozenset[int] | None,
    ) -> Row[Any] | None:
        """Apply ``values`` and bump the version, if the row exists at one of ``versions``."""
        query = (
            update(_table)
            .where(_table.c.id == experiment_id)
            .values(**values, version=_table.c.version + 1, updated_at=func.now())
            .returning(_table)
        )
        if versions is not None:
            query = query.where(_table.c.version.in_(versions))
        result = await self.session.execute(query)
        row: Row[Any] | None = result.one_or_none()
        return row

    async def delete_draft(self, experiment_id: uuid.UUID, versions: frozenset[int] | None) -> bool:
        query = delete(_table).where(_table.c.id == experiment_id, _table.c.status == "draft")
        if versions is not None:
            query = query.where(_table.c.version.in_(versions))
        result = await self.session.execute(query.returning(_table.c.id))
        return result.one_or_none() is not None
