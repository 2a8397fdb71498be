from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.audit.schemas import AuditQuery
from expsvc.auth.access import access_parameters, experiment_of_entity, may
from expsvc.auth.principal import Principal
from expsvc.models import audit_log


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def search(
        self, query: AuditQuery, principal: Principal, before_id: int | None
    ) -> Sequence[Row[Any]]:
        """A page of the rows ``query`` selects, of entities ``principal`` may read."""
        statement = select(audit_log).where(
            may(experiment_of_entity(audit_log.c.entity_type, audit_log.c.entity_id))
        )
        for field in ("actor", "action", "entity_type", "entity_id", "batch_id"):
            value = getattr(query, field)
            if value is not None:
                statement = statement.where(audit_log.c[field] == value)
        if query.occurred_after is not None:
            statement = statement.where(audit_log.c.occurred_at >= query.occurred_after)
        if query.occurred_before is not None:
            statement = statement.where(audit_log.c.occurred_at < query.occurred_before)
        if before_id is not None:
            statement = statement.where(audit_log.c.id < before_id)
        statement = statement.order_by(audit_log.c.id.desc()).limit(query.page_size + 1)
        parameters = access_parameters(principal)
        rows: Sequence[Row[Any]] = (await self.session.execute(statement, parameters)).all()
        return rows
