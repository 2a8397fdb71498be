from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, delete, select

from expsvc.experiment.schemas import ExperimentFilter
from expsvc.models import experiments
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository


class ExperimentRepository(EntityRepository):
    table = experiments

    async def search(
        self,
        where: ExperimentFilter,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        return await self.fetch_page(_filtered(select(experiments), where), ordering, after, limit)

    async def matching_ids(self, where: ExperimentFilter, limit: int) -> list[uuid.UUID]:
        """Ids of the experiments ``where`` selects, in id order, at most ``limit``."""
        query = _filtered(select(experiments.c.id), where).order_by(experiments.c.id).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def delete(self, experiment_id: uuid.UUID) -> None:
        await self.session.execute(delete(experiments).where(experiments.c.id == experiment_id))


def _filtered(query: Select[Any], where: ExperimentFilter) -> Select[Any]:
    if where.status:
        query = query.where(experiments.c.status.in_([s.value for s in where.status]))
    if where.tag:
        query = query.where(experiments.c.tags.contains(sorted(set(where.tag))))
    return query
