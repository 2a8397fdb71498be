"""Who may do what on an experiment, its runs and its captures: the roles and their SQL.

Roles are granted per experiment (``experiment_grants``) to principals and groups; runs and
captures inherit their experiment's. The check rides in the statement that reads or writes:
:func:`may` is a predicate on the row's experiment id with three bound values
(:func:`access_parameters`), so it costs no round trip, and an admin's ``true OR ...`` never
evaluates the ``EXISTS``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Text,
    any_,
    bindparam,
    case,
    or_,
    select,
)

from expsvc.auth.principal import Principal
from expsvc.errors import Forbidden
from expsvc.lifecycle import Action, EntityKind
from expsvc.models import capture_sessions, experiment_grants, runs


class Role(StrEnum):
    viewer = "viewer"
    editor = "editor"
    owner = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.viewer: 1, Role.editor: 2, Role.owner: 3}
# The roles that satisfy a need, as bound into :func:`may`.
_AT_LEAST = {needed: [role.value for role in Role if role.allows(needed)] for needed in Role}

ACCESS_ADMIN, ACCESS_GRANTEES, ACCESS_ROLES = "access_admin", "access_grantees", "access_roles"


class RoleRequired(Forbidden):
    slug, title = "role-required", "Role required"

    def __init__(self, needed: Role, held: Role) -> None:
        super().__init__(
            f"this needs the {needed} role on the experiment; you hold {held}",
            required_role=needed.value,
            role=held.value,
        )


def principal_grantee(principal_id: str) -> str:
    return f"principal:{principal_id}"


def group_grantee(group: str) -> str:
    return f"group:{group}"


def grantees(principal: Principal) -> list[str]:
    """The ``experiment_grants.grantee`` values that speak for ``principal``."""
    return [principal_grantee(principal.id), *(group_grantee(g) for g in sorted(principal.groups))]


def access_parameters(principal: Principal, needed: Role = Role.viewer) -> dict[str, Any]:
    """The values :func:`may` binds: who asks, and the roles that would do."""
    return {
        ACCESS_ADMIN: principal.is_admin,
        ACCESS_GRANTEES: grantees(principal),
        ACCESS_ROLES: _AT_LEAST[needed],
    }


def may(experiment_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """True where the caller (see :func:`access_parameters`) holds a sufficient role on the
    experiment ``experiment_id`` names, or is an admin."""
    grant = experiment_grants.alias("access_grant")
    # IN an uncorrelated sub-select, not a correlated EXISTS: PostgreSQL reads the caller's
    # grants once (a range of ix_experiment_grants_grantee) into a hashed sub-plan and probes it
    # per row, where EXISTS probed the grants table once per row of a list (a list of runs as
    # a non-admin cost 2.4x the database CPU with it).
    granted = select(grant.c.experiment_id).where(
        grant.c.grantee == any_(bindparam(ACCESS_GRANTEES, type_=ARRAY(Text))),
        grant.c.role == any_(bindparam(ACCESS_ROLES, type_=ARRAY(Text))),
    )
    return or_(bindparam(ACCESS_ADMIN, type_=Boolean), experiment_id.in_(granted))


# :func:`may` as SQL text, for statements written as text: format ``experiment_id`` with the
# expression that names the row's experiment (:func:`may_sql`).
MAY_SQL = (
    ":access_admin OR EXISTS (SELECT 1 FROM experiment_grants AS access_grant "
    "WHERE access_grant.experiment_id = {experiment_id} "
    "AND access_grant.grantee = ANY(:access_grantees) AND access_grant.role = ANY(:access_roles))"
)
# The experiment of a row of each table, as SQL on the row's alias.
_EXPERIMENT_OF = {
    "experiments": "{row}.id",
    "runs": "{row}.experiment_id",
    "capture_sessions": (
        "(SELECT access_run.experiment_id FROM runs AS access_run "
        "WHERE access_run.id = {row}.run_id)"
    ),
}


def may_sql(table: str, row: str) -> str:
    """:data:`MAY_SQL` for a row of ``table`` aliased ``row``."""
    return MAY_SQL.format(experiment_id=_EXPERIMENT_OF[table].format(row=row))


def needed_for(kind: EntityKind, action: Action) -> Role:
    """The role a lifecycle action takes: archiving an experiment is its owners' call, every
    other action (and every update) an editor's."""
    return Role.owner if kind is EntityKind.experiment and action is Action.archive else Role.editor


def experiment_of_entity(
    entity_type: ColumnElement[Any], entity_id: ColumnElement[Any]
) -> ColumnElement[Any]:
    """The experiment of a row that names an entity by type and id (audit rows, events); NULL
    for entities of no experiment (webhooks, API tokens), which :func:`may` lets only admins
    read."""
    run_experiment = (
        select(runs.c.experiment_id)
        .where(runs.c.id == entity_id)
        .correlate_except(runs)
        .scalar_subquery()
    )
    capture_experiment = (
        select(runs.c.experiment_id)
        .join(capture_sessions, capture_sessions.c.run_id == runs.c.id)
        .where(capture_sessions.c.id == entity_id)
        .correlate_except(runs, capture_sessions)
        .scalar_subquery()
    )
    return case(
        (entity_type == "experiment", entity_id),
        (entity_type == "run", run_experiment),
        (entity_type == "capture", capture_experiment),
    )


def held_role(principal: Principal, roles: list[str]) -> Role | None:
    """The caller's role: owner for an admin, else the highest of the roles its grantees hold
    (``roles``), if any."""
    if principal.is_admin:
        return Role.owner
    held = [Role(role) for role in roles]
    return max(held, key=lambda role: role.rank) if held else None
