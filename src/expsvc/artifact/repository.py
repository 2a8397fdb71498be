from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select

from expsvc.artifact.schemas import ArtifactQuery
from expsvc.models import run_artifacts
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository

_table = run_artifacts


class ArtifactRepository(EntityRepository):
    table = run_artifacts

    async def find(self, run_id: uuid.UUID, artifact_id: str) -> Row[Any] | None:
        """The run's link to this artifact, locked until the transaction ends."""
        query = (
            select(_table)
            .where(_table.c.run_id == run_id, _table.c.artifact_id == artifact_id)
            .with_for_update(key_share=True)
        )
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def approved_model(self, run_id: uuid.UUID) -> Row[Any] | None:
        query = (
            select(_table)
            .where(_table.c.run_id == run_id, _table.c.approved_model)
            .with_for_update(key_share=True)
        )
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def search(
        self,
        run_id: uuid.UUID,
        where: ArtifactQuery,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        query = select(_table).where(_table.c.run_id == run_id)
        if where.status:
            query = query.where(_table.c.status.in_([s.value for s in where.status]))
        if where.kind is not None:
            query = query.where(_table.c.kind == where.kind)
        if where.approved_model is not None:
            query = query.where(_table.c.approved_model.is_(where.approved_model))
        return await self.fetch_page(query, ordering, after, limit)
