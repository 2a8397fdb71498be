"""The fields runs filter on (docs/filtering.md), and the filters' SQL with the caller's
access."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from expsvc.auth.access import Role, access_parameters, may
from expsvc.auth.principal import Principal
from expsvc.filtering.sql import (
    FieldSet,
    Shape,
    array_field,
    bind,
    scalar_field,
    sha_field,
    shape_sql,
    shape_values,
)
from expsvc.models import runs
from expsvc.run.schemas import RunFilter

# The fields runs filter on, by the typed parameters and the filter language alike
# (docs/filtering.md); each is served by an index of migration 0014 or earlier (ADR 0018).
RUN_FIELDS = FieldSet(
    fields={
        "id": scalar_field(runs.c.id, "uuid"),
        "experiment_id": scalar_field(runs.c.experiment_id, "uuid"),
        "name": scalar_field(runs.c.name, "text", contains=True),
        "status": scalar_field(runs.c.status, "status"),
        "git_sha": sha_field(runs.c.git_sha),
        "git_branch": scalar_field(runs.c.git_branch, "text"),
        "git_repository": scalar_field(runs.c.git_repository, "text"),
        "created_by": scalar_field(runs.c.created_by, "text"),
        "tags": array_field(runs.c.tags),
        "participants": array_field(runs.c.participants),
        # Its capture sessions' sensors, kept on the run by triggers (migration 0023, ADR 0032).
        "sensors": array_field(runs.c.sensors),
        **{
            f"{name}_at": scalar_field(runs.c[f"{name}_at"], "time")
            for name in ("created", "updated", "started", "finished", "archived")
        },
    },
    params=runs.c.params,
)


def filter_values(where: RunFilter) -> tuple[Shape | None, dict[str, Any]]:
    """The shape of the filters ``where`` gives and the values to bind."""
    shape, values = bind(where.expression(), RUN_FIELDS)
    return shape, shape_values(values)


def filtered(query: Select[Any], shape: Shape | None) -> Select[Any]:
    if shape is not None:
        query = query.where(shape_sql(shape, RUN_FIELDS))
    return query.where(may(runs.c.experiment_id))


def selected(
    where: RunFilter, principal: Principal, needed: Role
) -> tuple[Select[Any], dict[str, Any]]:
    """The runs ``where`` selects on which ``principal`` holds ``needed``, and the values to
    bind."""
    shape, values = filter_values(where)
    values.update(access_parameters(principal, needed))
    return filtered(select(runs), shape), values
