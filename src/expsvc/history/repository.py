from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import status_history


class StatusHistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page(
        self, entity_type: str, entity_id: uuid.UUID, before_id: int | None, limit: int
    ) -> Sequence[Row[Any]]:
        query = select(status_history).where(
            status_history.c.entity_type == entity_type, status_history.c.entity_id == entity_id
        )
        if before_id is not None:
            query = query.where(status_history.c.id < before_id)
        query = query.order_by(status_history.c.id.desc()).limit(limit)
        return (await self.session.execute(query)).all()
