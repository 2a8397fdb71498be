from __future__ import annotations

import functools
import uuid
from collections import namedtuple
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Row,
    Select,
    String,
    TextualSelect,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.sql.util import ClauseAdapter

from expsvc.auth.access import Role, access_parameters, may, may_sql
from expsvc.auth.principal import Principal
from expsvc.driver import PLAN_EACH_CALL, fetch_rows
from expsvc.filtering.sql import (
    FieldSet,
    Shape,
    array_field,
    bind,
    linked_array_field,
    scalar_field,
    sha_field,
    shape_sql,
    shape_values,
)
from expsvc.models import capture_sessions, runs
from expsvc.pagination import Ordering
from expsvc.repository import PAGE_LIMIT_PARAMETER, EntityRepository, json_text, page_values
from expsvc.run.schemas import RunFilter
from expsvc.totals import count_or_estimate

# Columns a client sets at creation; the rest are the server's (defaults in the table).
CREATE_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "tags",
    "params",
    "participants",
    "git_sha",
    "git_branch",
    "git_repository",
    "heartbeat_timeout_seconds",
    "max_duration_seconds",
    "created_by",
)
RunRow = namedtuple("RunRow", [column.name for column in runs.c])  # type: ignore[misc]


def _create_in_open_experiment() -> TextualSelect:
    values = ", ".join(
        {
            "experiment_id": "experiment.id",
            "tags": "CAST(:tags AS text[])",
            "participants": "CAST(:participants AS text[])",
            "params": "CAST(:params AS jsonb)",
        }.get(name, f":{name}")
        for name in CREATE_COLUMNS
    )
    returned = ", ".join(f"created.{column.name}" for column in runs.c)
    # FOR SHARE: an experiment finishing concurrently waits for us, then sees this run.
    statement = text(
        f"""
        WITH experiment AS (
            SELECT id, status, ({may_sql("experiments", "experiments")}) AS allowed
            FROM experiments WHERE id = :experiment_id FOR SHARE
        ), created AS (
            INSERT INTO runs ({", ".join(CREATE_COLUMNS)})
            SELECT {values} FROM experiment
            WHERE experiment.status IN ('draft', 'running') AND experiment.allowed
            RETURNING *
        )
        SELECT experiment.status AS experiment_status, experiment.allowed, {returned}
        FROM experiment LEFT JOIN created ON true
        """  # noqa: S608 (built at import from the table's column names)
    )
    return statement.columns(
        column("experiment_status", String()), column("allowed", Boolean()), *runs.c
    )


_CREATE_IN_OPEN_EXPERIMENT = _create_in_open_experiment()


class RunRepository(EntityRepository):
    table = runs

    async def create_in_open_experiment(
        self, values: dict[str, Any], principal: Principal
    ) -> tuple[str | None, bool, RunRow | None]:
        """Insert the run if its experiment is draft or running and ``principal`` may edit
        it, in one statement: (the experiment's status or None if it does not exist, whether
        the principal may edit it, the new run or None)."""
        parameters = {
            **values,
            "params": json_text(values["params"]),
            **access_parameters(principal, Role.editor),
        }
        rows = await fetch_rows(self.session, _CREATE_IN_OPEN_EXPERIMENT, parameters)
        row = rows[0] if rows else None
        if row is None:
            return None, False, None
        if row.id is None:
            return row.experiment_status, row.allowed, None
        return row.experiment_status, row.allowed, RunRow(*row[2:])

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        # Names sort by code point (COLLATE "C") so the ix_runs_name_c_id index serves them.
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column

    async def search(
        self,
        where: RunFilter,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """A page of the runs ``principal`` may read among those ``where`` selects.

        In creation order, one statement: the planner's choice between walking the
        ``created_at`` index and the filters' own (creation-ordered) indexes is right on every
        filter of the plan test, and the common list (a status, a tag and a creation window)
        costs one short read. In any other order, first the next :data:`HEAD_ROWS` runs in
        order are filtered (an index walk that cannot read more); if fewer than ``limit``
        match there, the filters are selective and the page is their matches, sorted
        (docs/filtering.md#how-a-page-is-read). The head walk on every list had doubled the
        common list's database time and broke its 200 req/s (docs/performance.md, run I).
        """
        shape, after_null, values = _page_parts(where, principal, after, limit)
        # Every statement is built once per filter shape (lru-cached): on the driver.
        if ordering.column == "created_at":
            statement = _created_order_statement(shape, ordering, after_null)
            return await fetch_rows(self.session, statement, values)
        rows = await fetch_rows(self.session, _head_statement(shape, ordering, after_null), values)
        if len(rows) < limit:
            statement = _search_statement(shape, ordering, after_null)
            rows = await fetch_rows(self.session, statement, values)
        return rows

    @staticmethod
    def head_page_statement(
        where: RunFilter,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> tuple[Select[Any], dict[str, Any]]:
        """The first statement :meth:`search` runs for a page, and its values (the load
        sandbox renders it for pgbench)."""
        shape, after_null, values = _page_parts(where, principal, after, limit)
        if ordering.column == "created_at":
            return _created_order_statement(shape, ordering, after_null), values
        return _head_statement(shape, ordering, after_null), values

    async def count(
        self, where: RunFilter, principal: Principal, budget_ms: int | None
    ) -> tuple[int, bool]:
        """How many runs ``principal`` may read among those ``where`` selects, and whether
        exactly: counted within ``budget_ms`` (None: do not count), else the planner's
        estimate."""
        shape, values = _filter_values(where)
        values.update(access_parameters(principal))
        query = _filtered(select(runs.c.id), shape)
        return await count_or_estimate(self.session, query, values, budget_ms)

    async def matching_ids(
        self, where: RunFilter, limit: int, principal: Principal
    ) -> list[uuid.UUID]:
        """Ids of the runs ``where`` selects that ``principal`` may edit, in id order, at most
        ``limit``."""
        query, values = _selected(where, principal, Role.editor)
        query = query.with_only_columns(runs.c.id).order_by(runs.c.id).limit(limit)
        return list((await self.session.execute(query, values)).scalars())

    async def export(
        self,
        where: RunFilter,
        principal: Principal,
        columns: Sequence[str],
        after: uuid.UUID | None,
        batch_size: int,
    ) -> AsyncGenerator[Sequence[Row[Any]]]:
        """``columns`` of the runs ``principal`` may read among those ``where`` selects, past
        ``after`` in id order, in batches from a server-side cursor (see
        :meth:`~expsvc.repository.EntityRepository.stream_batches`)."""
        query, values = _selected(where, principal, Role.viewer)
        statement = self.export_statement(query, columns, after)
        return await self.stream_batches(statement, values, batch_size)

    async def running_ids(self, experiment_id: uuid.UUID, limit: int) -> list[uuid.UUID]:
        query = (
            select(runs.c.id)
            .where(runs.c.experiment_id == experiment_id, runs.c.status == "running")
            .order_by(runs.c.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def count_in_experiment(self, experiment_id: uuid.UUID) -> int:
        query = select(func.count()).where(runs.c.experiment_id == experiment_id)
        return int((await self.session.execute(query)).scalar_one())


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
        "sensors": linked_array_field(capture_sessions, "run_id", "sensors", runs.c.id),
        **{
            f"{name}_at": scalar_field(runs.c[f"{name}_at"], "time")
            for name in ("created", "updated", "started", "finished", "archived")
        },
    },
    params=runs.c.params,
)


def _filter_values(where: RunFilter) -> tuple[Shape | None, dict[str, Any]]:
    """The shape of the filters ``where`` gives and the values to bind."""
    shape, values = bind(where.expression(), RUN_FIELDS)
    return shape, shape_values(values)


def _filtered(query: Select[Any], shape: Shape | None) -> Select[Any]:
    if shape is not None:
        query = query.where(shape_sql(shape, RUN_FIELDS))
    return query.where(may(runs.c.experiment_id))


def _selected(
    where: RunFilter, principal: Principal, needed: Role
) -> tuple[Select[Any], dict[str, Any]]:
    """The runs ``where`` selects on which ``principal`` holds ``needed``, and the values to
    bind."""
    shape, values = _filter_values(where)
    values.update(access_parameters(principal, needed))
    return _filtered(select(runs), shape), values


# How many runs in order a page's first statement filters at most (see RunRepository.search).
HEAD_ROWS = 5000
_HEAD_ROWS = "head_rows"


class _SortedAfterFiltering(RunRepository):
    """Orders by an expression no index provides, so the planner finds the (selective)
    filters' matches through their own indexes and sorts them, instead of walking an ordering
    index and discarding rows."""

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        column = runs.c[name]
        if name == "name":
            return (column + literal_column("''")).collate("C")
        return column + literal_column("interval '0 seconds'")


# A list's statements depend only on the shape of its filters, its order and where its page
# starts, so each is built once per such shape (building and hashing a Select per request was
# about a fifth of a page's CPU).
def _page_parts(
    where: RunFilter,
    principal: Principal,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> tuple[Shape | None, bool | None, dict[str, Any]]:
    """A page's filter shape, whether its keyset starts after a null, and every value its
    statements bind."""
    shape, values = _filter_values(where)
    values.update(access_parameters(principal))
    values[_HEAD_ROWS] = HEAD_ROWS
    after_null = None if after is None else after[0] is None
    return shape, after_null, page_values(values, after, limit)


@functools.lru_cache(maxsize=512)
def _head_statement(
    shape: Shape | None, ordering: Ordering, after_null: bool | None
) -> Select[Any]:
    """The matches among the next HEAD_ROWS runs in ``ordering``: the inner walk has no filter
    and a limit, so it reads at most HEAD_ROWS index entries whatever the planner thinks."""
    walk = RunRepository.page_statement(select(runs), ordering, after_null)
    head = walk.limit(bindparam(_HEAD_ROWS)).subquery("head")
    condition = may(runs.c.experiment_id)
    if shape is not None:
        condition = and_(shape_sql(shape, RUN_FIELDS), condition)
    column: ColumnElement[Any] = head.c[ordering.column]
    if ordering.column == "name":
        column = column.collate("C")
    order = (column.desc(), head.c.id.desc()) if ordering.descending else (column, head.c.id)
    return (
        select(*head.c)
        .where(ClauseAdapter(head).traverse(condition))
        .order_by(*order)
        .limit(bindparam(PAGE_LIMIT_PARAMETER))
    )


@functools.lru_cache(maxsize=512)
def _created_order_statement(
    shape: Shape | None, ordering: Ordering, after_null: bool | None
) -> Select[Any]:
    """A page of the filters' matches in creation order, the planner choosing the index with
    each call's values."""
    statement = RunRepository.page_statement(_filtered(select(runs), shape), ordering, after_null)
    return _planned_each_call(statement, shape)


@functools.lru_cache(maxsize=512)
def _search_statement(
    shape: Shape | None, ordering: Ordering, after_null: bool | None
) -> Select[Any]:
    """Every match of the filters, sorted: the second statement of a selective page."""
    query = _filtered(select(runs), shape)
    statement = _SortedAfterFiltering.page_statement(query, ordering, after_null)
    return _planned_each_call(statement, shape)


def _planned_each_call(statement: Select[Any], shape: Shape | None) -> Select[Any]:
    """With filters, which index serves a page depends on their values: PostgreSQL plans the
    statement with each call's (:data:`expsvc.driver.PLAN_EACH_CALL`). Without, one plan
    (the creation index, or the sort column's) is right for every call."""
    if shape is None:
        return statement
    return statement.execution_options(**{PLAN_EACH_CALL: True})
