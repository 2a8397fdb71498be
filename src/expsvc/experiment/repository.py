from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, delete, select, text

from expsvc.auth.access import Role, access_parameters, may, may_sql
from expsvc.auth.principal import Principal
from expsvc.driver import fetch_rows
from expsvc.experiment.schemas import ExperimentFilter
from expsvc.filtering.sql import (
    FieldSet,
    array_field,
    bind,
    scalar_field,
    shape_sql,
    shape_values,
)
from expsvc.models import experiments
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository
from expsvc.totals import count_or_estimate

_START_DRAFT_OF_RUN = text(
    "UPDATE experiments AS e SET status = 'running', started_at = now(), "  # noqa: S608
    "version = e.version + 1, updated_at = now() FROM runs AS r "
    "WHERE r.id = :run_id AND e.id = r.experiment_id AND e.status = 'draft' "
    "AND (" + may_sql("experiments", "e") + ") "
    "RETURNING " + ", ".join(f"e.{column.name}" for column in experiments.c)
).columns(*experiments.c)


class ExperimentRepository(EntityRepository):
    table = experiments

    @classmethod
    def experiment_of(cls) -> ColumnElement[Any]:
        column: ColumnElement[Any] = experiments.c.id
        return column

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        # Names sort by code point (COLLATE "C"), as runs' do. Only created_at has an index
        # in order: experiments number in the thousands, the other orders sort the matches.
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column

    async def start_draft_of_run(self, run_id: uuid.UUID, principal: Principal) -> Row[Any] | None:
        """Start the run's experiment if it is a draft and ``principal`` may edit it; the
        started experiment, or None."""
        parameters = {"run_id": run_id, **access_parameters(principal, Role.editor)}
        rows = await fetch_rows(self.session, _START_DRAFT_OF_RUN, parameters)
        row: Row[Any] | None = rows[0] if rows else None
        return row

    async def search(
        self,
        where: ExperimentFilter,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """A page of the experiments ``principal`` may read among those ``where`` selects."""
        query, values = _filtered(select(experiments), where, principal, Role.viewer)
        after_null = None if after is None else after[0] is None
        statement = self.page_statement(query, ordering, after_null)
        return await self.fetch_built_page(statement, after, limit, values)

    async def count(
        self, where: ExperimentFilter, principal: Principal, budget_ms: int | None
    ) -> tuple[int, bool]:
        """How many experiments ``principal`` may read among those ``where`` selects, and
        whether exactly: counted within ``budget_ms`` (None: do not count), else the planner's
        estimate."""
        query, values = _filtered(select(experiments.c.id), where, principal, Role.viewer)
        return await count_or_estimate(self.session, query, values, budget_ms)

    async def matching_ids(
        self, where: ExperimentFilter, limit: int, principal: Principal
    ) -> list[uuid.UUID]:
        """Ids of the experiments ``where`` selects that ``principal`` may edit, in id order,
        at most ``limit``."""
        query, values = _filtered(select(experiments.c.id), where, principal, Role.editor)
        query = query.order_by(experiments.c.id).limit(limit)
        return list((await self.session.execute(query, values)).scalars())

    async def readable_ids(
        self, experiment_ids: Sequence[uuid.UUID], principal: Principal
    ) -> set[uuid.UUID]:
        """Those of ``experiment_ids`` that exist and ``principal`` may read."""
        query = select(experiments.c.id).where(
            experiments.c.id.in_(list(experiment_ids)), may(experiments.c.id)
        )
        result = await self.session.execute(query, access_parameters(principal))
        return set(result.scalars())

    async def export(
        self,
        where: ExperimentFilter,
        principal: Principal,
        columns: Sequence[str],
        after: uuid.UUID | None,
        batch_size: int,
    ) -> AsyncGenerator[Sequence[Row[Any]]]:
        """``columns`` of the experiments ``principal`` may read among those ``where`` selects,
        past ``after`` in id order, in batches from a server-side cursor (see
        :meth:`~expsvc.repository.EntityRepository.stream_batches`)."""
        query, values = _filtered(select(experiments), where, principal, Role.viewer)
        statement = self.export_statement(query, columns, after)
        return await self.stream_batches(statement, values, batch_size)

    async def delete(self, experiment_id: uuid.UUID) -> None:
        await self.session.execute(delete(experiments).where(experiments.c.id == experiment_id))


# The fields experiments filter on (docs/filtering.md).
EXPERIMENT_FIELDS = FieldSet(
    fields={
        "id": scalar_field(experiments.c.id, "uuid"),
        "name": scalar_field(experiments.c.name, "text", contains=True),
        "status": scalar_field(experiments.c.status, "status"),
        "created_by": scalar_field(experiments.c.created_by, "text"),
        "tags": array_field(experiments.c.tags),
        "participants": array_field(experiments.c.participants),
        **{
            f"{name}_at": scalar_field(experiments.c[f"{name}_at"], "time")
            for name in ("created", "updated", "started", "finished", "archived")
        },
    },
    params=experiments.c.params,
)


def _filtered(
    query: Select[Any], where: ExperimentFilter, principal: Principal, needed: Role
) -> tuple[Select[Any], dict[str, Any]]:
    """``query`` narrowed to what ``where`` selects and ``principal`` holds ``needed`` on, and
    the values to bind."""
    shape, values = bind(where.expression(), EXPERIMENT_FIELDS)
    if shape is not None:
        query = query.where(shape_sql(shape, EXPERIMENT_FIELDS))
    return query.where(may(experiments.c.id)), {
        **shape_values(values),
        **access_parameters(principal, needed),
    }
