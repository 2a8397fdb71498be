from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import capture_sessions, run_artifacts


class CardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def captures(self, run_id: uuid.UUID, limit: int) -> Sequence[Row[Any]]:
        """The run's capture sessions, newest first."""
        table = capture_sessions
        query = (
            select(table)
            .where(table.c.run_id == run_id)
            .order_by(table.c.created_at.desc(), table.c.id.desc())
            .limit(limit)
        )
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def sensors(self, run_id: uuid.UUID, limit: int) -> list[str]:
        """Every sensor of the run's capture sessions, sorted, at most ``limit``."""
        unnested = (
            select(func.unnest(capture_sessions.c.sensors).label("sensor"))
            .where(capture_sessions.c.run_id == run_id)
            .subquery()
        )
        query = select(unnested.c.sensor).distinct().order_by(unnested.c.sensor).limit(limit)
        return list((await self.session.execute(query)).scalars())

    async def artifacts(self, run_id: uuid.UUID, limit: int) -> Sequence[Row[Any]]:
        """The run's artifact links: the approved model first, then oldest first."""
        table = run_artifacts
        query = (
            select(table)
            .where(table.c.run_id == run_id)
            .order_by(table.c.approved_model.desc(), table.c.created_at, table.c.id)
            .limit(limit)
        )
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows
