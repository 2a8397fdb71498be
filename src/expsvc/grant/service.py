"""Grant rules: who may see and change an experiment's grants, and "always one owner".

:meth:`GrantService.refuse` is the error path of every other feature's access check: the
common path checks in its own statement (:func:`expsvc.auth.access.may`); when that finds
nothing, it tells "does not exist or may not be read" (404, the same answer for both: no
existence leak) from "may be read but not changed" (403 naming the role needed).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.audit.service import AuditService
from expsvc.auth.access import Role, RoleRequired, grantees, held_role
from expsvc.auth.principal import Principal
from expsvc.context import ActionContext
from expsvc.errors import Conflict, ProblemError
from expsvc.experiment.errors import ExperimentNotFound
from expsvc.grant.repository import GrantRepository
from expsvc.grant.schemas import GranteeType, GrantList, GrantRead
from expsvc.lifecycle import EntityKind
from expsvc.repository import EntityRepository


class LastOwner(Conflict):
    slug, title = "last-owner", "An experiment keeps at least one owner"


def grantee_key(grantee_type: GranteeType, name: str) -> str:
    return f"{grantee_type.prefix}:{name}"


def grant_read(row: Row[Any]) -> GrantRead:
    kind, _, name = row.grantee.partition(":")
    return GrantRead(
        principal=name if kind == "principal" else None,
        group=name if kind == "group" else None,
        role=Role(row.role),
        granted_by=row.granted_by,
        granted_at=row.granted_at,
    )


class GrantService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = GrantRepository(session)
        self.audit = AuditService(session)

    async def require(
        self, principal: Principal, experiment_id: uuid.UUID, needed: Role, *, lock: bool = False
    ) -> Role:
        """The caller's role on the experiment if it is at least ``needed`` (admins: owner);
        else 404 when it may not even read it (or it does not exist), 403 when it may."""
        roles = await self.repository.roles_on(experiment_id, grantees(principal), lock=lock)
        if roles is None:
            raise ExperimentNotFound(experiment_id)
        held = held_role(principal, roles)
        if held is None:
            raise ExperimentNotFound(experiment_id)
        if not held.allows(needed):
            raise RoleRequired(needed, held)
        return held

    async def refuse(
        self,
        repository: EntityRepository,
        entity_id: uuid.UUID,
        principal: Principal,
        needed: Role,
        not_found: Callable[[uuid.UUID], ProblemError],
    ) -> NoReturn:
        """Why a change that checked access in its own statement found nothing: the entity
        does not exist or may not be read (404, alike), or the role is too low (403)."""
        experiment_id = await repository.experiment_id_of(entity_id)
        if experiment_id is not None:
            roles = await self.repository.roles_on(experiment_id, grantees(principal))
            held = held_role(principal, roles or [])
            if held is not None and not held.allows(needed):
                raise RoleRequired(needed, held)
        raise not_found(entity_id)

    async def list(self, principal: Principal, experiment_id: uuid.UUID) -> GrantList:
        await self.require(principal, experiment_id, Role.viewer)
        rows = await self.repository.all_on(experiment_id)
        return GrantList(items=[grant_read(row) for row in rows])

    async def put(
        self, context: ActionContext, experiment_id: uuid.UUID, grantee: str, role: Role
    ) -> GrantRead:
        await self.require(context.principal, experiment_id, Role.owner, lock=True)
        row = await self.repository.put(experiment_id, grantee, role.value, context.actor)
        if row.previous_role != role.value:
            await self._keep_an_owner(experiment_id, grantee)
            await self._record(context, experiment_id, grantee, row.previous_role, role.value)
        return grant_read(row)

    async def delete(self, context: ActionContext, experiment_id: uuid.UUID, grantee: str) -> None:
        """Remove a grant; removing one that does not exist is done already (204)."""
        await self.require(context.principal, experiment_id, Role.owner, lock=True)
        previous = await self.repository.delete(experiment_id, grantee)
        if previous is not None:
            await self._keep_an_owner(experiment_id, grantee)
            await self._record(context, experiment_id, grantee, previous, None)

    async def _keep_an_owner(self, experiment_id: uuid.UUID, grantee: str) -> None:
        # The experiment is locked (require(lock=True)): no other grant change runs between.
        if await self.repository.owners(experiment_id) == 0:
            raise LastOwner(
                f"{grantee} is the experiment's last owner; make someone else owner first",
                grantee=grantee,
            )

    async def _record(
        self,
        context: ActionContext,
        experiment_id: uuid.UUID,
        grantee: str,
        before: str | None,
        after: str | None,
    ) -> None:
        changes = {f"grant:{grantee}": {"before": before, "after": after}}
        await self.audit.record("grant", EntityKind.experiment, [(experiment_id, changes)], context)
