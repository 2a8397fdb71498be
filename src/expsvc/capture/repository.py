from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, update

from expsvc.models import capture_sessions
from expsvc.repository import EntityRepository


class CaptureRepository(EntityRepository):
    table = capture_sessions

    async def stop_running_of_run(
        self, run_id: uuid.UUID, values: dict[str, Any]
    ) -> list[uuid.UUID]:
        """Apply ``values`` to every running capture session of the run; their ids."""
        table = capture_sessions
        query = (
            update(table)
            .where(table.c.run_id == run_id, table.c.status == "running")
            .values(**values, version=table.c.version + 1, updated_at=func.now())
            .returning(table.c.id)
        )
        return list((await self.session.execute(query)).scalars())
