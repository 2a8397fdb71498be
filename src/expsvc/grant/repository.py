"""SQL of the grants. The access predicate every other repository uses is
:func:`expsvc.auth.access.may`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

# The caller's roles on one experiment (all its grantees' grants), and the experiment's
# existence; locked when the caller is about to change its grants, so two grant changes on one
# experiment take turns and "at least one owner" is checked on what the other left.
_ROLES_ON = """
    SELECT e.id, ARRAY(
        SELECT g.role FROM experiment_grants AS g
        WHERE g.experiment_id = e.id AND g.grantee = ANY(:grantees)
    ) AS roles
    FROM experiments AS e WHERE e.id = :experiment_id
"""
_ROLES_ON_UNLOCKED = text(_ROLES_ON)
_ROLES_ON_LOCKED = text(_ROLES_ON + " FOR NO KEY UPDATE OF e")

_LIST = text(
    "SELECT grantee, role, granted_by, granted_at FROM experiment_grants "
    "WHERE experiment_id = :experiment_id ORDER BY grantee"
)
# The grant as it was (NULL when new) and as it is now, in one statement.
_PUT = text(
    """
    WITH previous AS (
        SELECT role FROM experiment_grants
        WHERE experiment_id = :experiment_id AND grantee = :grantee
    ), stored AS (
        INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by)
        VALUES (:experiment_id, :grantee, :role, :granted_by)
        ON CONFLICT (experiment_id, grantee) DO UPDATE
            SET role = EXCLUDED.role, granted_by = EXCLUDED.granted_by, granted_at = now()
        RETURNING grantee, role, granted_by, granted_at
    )
    SELECT stored.*, (SELECT role FROM previous) AS previous_role FROM stored
    """
)
_DELETE = text(
    "DELETE FROM experiment_grants WHERE experiment_id = :experiment_id AND grantee = :grantee "
    "RETURNING role"
)
_OWNERS = text(
    "SELECT count(*) FROM experiment_grants WHERE experiment_id = :experiment_id AND role = 'owner'"
)
# Creators own what they create (one per new experiment).
_GRANT_OWNER = text(
    "INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by) "
    "SELECT id, :grantee, 'owner', :granted_by FROM unnest(CAST(:experiment_ids AS uuid[])) AS id"
)
# An experiment without any grant (created by a release before grants) is owned by its
# creator; the same statement as migration 0010's backfill.
BACKFILL_OWNERS = text(
    """
    INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by, granted_at)
    SELECT e.id, 'principal:' || e.created_by, 'owner', e.created_by, e.created_at
    FROM experiments AS e
    WHERE NOT EXISTS (SELECT 1 FROM experiment_grants AS g WHERE g.experiment_id = e.id)
    ON CONFLICT DO NOTHING
    """
)


class GrantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def roles_on(
        self, experiment_id: uuid.UUID, grantees: list[str], *, lock: bool = False
    ) -> list[str] | None:
        """The roles ``grantees`` hold on the experiment; None if it does not exist."""
        statement = _ROLES_ON_LOCKED if lock else _ROLES_ON_UNLOCKED
        parameters = {"experiment_id": experiment_id, "grantees": grantees}
        row = (await self.session.execute(statement, parameters)).one_or_none()
        return None if row is None else list(row.roles)

    async def all_on(self, experiment_id: uuid.UUID) -> Sequence[Row[Any]]:
        return (await self.session.execute(_LIST, {"experiment_id": experiment_id})).all()

    async def put(
        self, experiment_id: uuid.UUID, grantee: str, role: str, granted_by: str
    ) -> Row[Any]:
        parameters = {
            "experiment_id": experiment_id,
            "grantee": grantee,
            "role": role,
            "granted_by": granted_by,
        }
        row: Row[Any] = (await self.session.execute(_PUT, parameters)).one()
        return row

    async def delete(self, experiment_id: uuid.UUID, grantee: str) -> str | None:
        """Remove the grant; the role it gave, or None if there was none."""
        parameters = {"experiment_id": experiment_id, "grantee": grantee}
        role: str | None = (await self.session.execute(_DELETE, parameters)).scalar_one_or_none()
        return role

    async def owners(self, experiment_id: uuid.UUID) -> int:
        result = await self.session.execute(_OWNERS, {"experiment_id": experiment_id})
        return int(result.scalar_one())

    async def grant_owner(
        self, experiment_ids: list[uuid.UUID], grantee: str, granted_by: str
    ) -> None:
        parameters = {
            "experiment_ids": experiment_ids,
            "grantee": grantee,
            "granted_by": granted_by,
        }
        await self.session.execute(_GRANT_OWNER, parameters)

    async def backfill_owners(self) -> int:
        result = await self.session.execute(BACKFILL_OWNERS)
        return int(getattr(result, "rowcount", 0) or 0)
