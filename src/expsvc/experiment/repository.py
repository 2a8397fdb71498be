from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select

from expsvc.models import experiments
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository


@dataclass(frozen=True)
class ExperimentFilter:
    statuses: Sequence[str] = ()
    tags: Sequence[str] = ()


class ExperimentRepository(EntityRepository):
    table = experiments

    async def search(
        self,
        where: ExperimentFilter,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        query = select(experiments)
        if where.statuses:
            query = query.where(experiments.c.status.in_(where.statuses))
        if where.tags:
            query = query.where(experiments.c.tags.contains(list(where.tags)))
        return await self.fetch_page(query, ordering, after, limit)

    async def delete(self, experiment_id: uuid.UUID) -> None:
        await self.session.execute(delete(experiments).where(experiments.c.id == experiment_id))
