from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

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


# What the connection's role could do to audit_log beyond appending (docs/adr/0019): no row when
# the table does not exist yet.
_REWRITE_POWERS = text(
    """
    SELECT current_user AS role,
           r.rolsuper AS superuser,
           pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
           has_table_privilege(c.oid, 'UPDATE, DELETE, TRUNCATE') AS privileged
    FROM pg_roles r, pg_class c
    WHERE r.rolname = current_user AND c.oid = to_regclass('audit_log')
    """
)


@dataclass(frozen=True)
class RewritePowers:
    role: str
    superuser: bool
    owner: bool  # owns audit_log (or is a member of its owner): may disable its triggers
    privileged: bool  # holds UPDATE, DELETE or TRUNCATE on it

    @property
    def any(self) -> bool:
        return self.superuser or self.owner or self.privileged


async def rewrite_powers(connection: AsyncConnection) -> RewritePowers | None:
    """The connection's role's powers over audit_log, None before the table exists."""
    row = (await connection.execute(_REWRITE_POWERS)).one_or_none()
    if row is None:
        return None
    return RewritePowers(row.role, row.superuser, row.owner, row.privileged)
