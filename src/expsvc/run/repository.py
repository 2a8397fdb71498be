"""The runs' SQL: a run created in an open experiment, the list (its statements in
:mod:`expsvc.run.pages`), totals, the selections of bulk actions and export, and the facts about
the table the list plans with."""

from __future__ import annotations

import functools
import time
import uuid
import weakref
from collections import namedtuple
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Row, Select, String, TextualSelect, column, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from expsvc.auth.access import Role, access_parameters, may_sql
from expsvc.auth.principal import Principal
from expsvc.driver import Built, fetch_rows, session_engine
from expsvc.filtering.sql import Shape
from expsvc.models import runs
from expsvc.pagination import Ordering
from expsvc.repository import json_text
from expsvc.run.fields import filter_values, filtered, selected
from expsvc.run.name_words import NO_NAME_SAMPLE, NameSample
from expsvc.run.pages import (
    EQUALITY_INDEXES,
    RunsInOrder,
    asks_tag_sets,
    gated,
    page_parts,
    page_statements,
    read_page,
    selects_nothing,
)
from expsvc.run.param_indexes import (
    CREATOR,
    NO_INDEXED_PARAMS,
    RUN_INDEXES_SQL,
    IndexedParams,
    parsed,
)
from expsvc.run.rare_elements import (
    ARRAY_COLUMNS,
    STATISTICS_TTL_SECONDS,
    ElementStatistics,
    has_array_condition,
    rare_part,
)
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


class RunRepository(RunsInOrder):
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

    async def search(
        self,
        where: RunFilter,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """A page of the runs ``principal`` may read among those ``where`` selects.

        In creation order (unless two loose conditions, :func:`loose_conditions`) and on one
        experiment's runs (:func:`pins_experiment`), one statement: the planner's choice between
        walking the order's index and the filters' own indexes is right on every filter of the
        plan test, and the common list (a status, a tag and a creation window) costs one short
        read. Otherwise, first the next :func:`head_rows` runs in
        order are filtered (an index walk that cannot read more); if fewer than ``limit``
        match there, the head walks again, further, when the matches it found predict a page
        within :data:`LONGER_HEAD_FACTOR` times its length (:func:`longer_head`); otherwise the
        filters are selective and the page is their matches, sorted
        (docs/filtering.md#how-a-page-is-read). The head walk on every list had doubled the
        common list's database time and broke its 200 req/s (docs/performance.md, run I).
        """
        shape, after_null, values = page_parts(where, principal, after, limit)
        if selects_nothing(shape, values):
            return []
        facts = await self.table_facts() if shape is not None else _NO_FACTS
        first, second = facts.page_statements(shape, values, ordering, after_null)
        return await read_page(functools.partial(fetch_rows, self.session), first, second, values)

    async def table_facts(self) -> RunTableFacts:
        """What the runs list plans with (:class:`RunTableFacts`), read at most every
        STATISTICS_TTL_SECONDS per database and process."""
        engine = session_engine(self.session)
        cached = _TABLE_FACTS.get(engine)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        facts = RunTableFacts.from_rows(
            await fetch_rows(self.session, _TABLE_FACTS_QUERY, _TABLE_FACTS_VALUES),
            await fetch_rows(self.session, _RUN_INDEXES_QUERY, {}),
        )
        _TABLE_FACTS[engine] = (now + STATISTICS_TTL_SECONDS, facts)
        return facts

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
        shape, after_null, values = page_parts(where, principal, after, limit)
        return page_statements(shape, values, ordering, after_null)[0].build(), values

    async def count(
        self, where: RunFilter, principal: Principal, budget_ms: int | None
    ) -> tuple[int, bool]:
        """How many runs ``principal`` may read among those ``where`` selects, and whether
        exactly: counted within ``budget_ms`` (None: do not count), else the planner's
        estimate."""
        shape, values = filter_values(where)
        if selects_nothing(shape, values):
            return 0, True
        values.update(access_parameters(principal))
        query = filtered(select(runs.c.id), shape)
        if budget_ms is not None and asks_tag_sets(shape, values, tag_sets=True):
            # Counted as a page reads them: tag conditions no tag set meets read no run.
            query = gated(query, shape, (await self.table_facts()).tag_sets)
        return await count_or_estimate(self.session, query, values, budget_ms)

    async def matching_ids(
        self, where: RunFilter, limit: int, principal: Principal
    ) -> list[uuid.UUID]:
        """Ids of the runs ``where`` selects that ``principal`` may edit, in id order, at most
        ``limit``."""
        query, values = selected(where, principal, Role.editor)
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
        query, values = selected(where, principal, Role.viewer)
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


# ANALYZE's most common elements of the runs' array columns and their frequencies, the table's
# estimated rows (one row with a NULL column when none has statistics), whether migration
# 0026's checks hold the times in order (validated: every row is), and whether migration 0027
# holds the runs' tag sets (recorded only after its backfill: the revision is 0027 or later),
# and ANALYZE's sample of the names (expsvc.run.name_words).
TABLE_FACTS_SQL = """
SELECT s.attname AS column_name, s.most_common_elems::text::text[] AS elements,
       s.most_common_elem_freqs AS frequencies, c.reltuples,
       (SELECT count(*) = 2 FROM pg_constraint
        WHERE conrelid = c.oid AND convalidated
          AND conname IN ('ck_runs_started_in_order', 'ck_runs_finished_in_order'))
         AS times_in_order,
       to_regclass('run_tag_sets') IS NOT NULL
         AND (SELECT max(version_num) FROM alembic_version) >= '0027' AS tag_sets,
       (SELECT array_cat(n.most_common_vals::text::text[], n.histogram_bounds::text::text[])
        FROM pg_stats AS n
        WHERE n.schemaname = current_schema() AND n.tablename = 'runs' AND n.attname = 'name')
         AS name_sample
FROM pg_class AS c
LEFT JOIN pg_stats AS s
  ON s.schemaname = current_schema() AND s.tablename = 'runs'
 AND s.attname = ANY (CAST(:columns AS text[]))
WHERE c.oid = 'runs'::regclass
"""
_TABLE_FACTS_QUERY = text(TABLE_FACTS_SQL)
_RUN_INDEXES_QUERY = text(RUN_INDEXES_SQL)
_TABLE_FACTS_VALUES = {"columns": list(ARRAY_COLUMNS)}


@dataclass(frozen=True)
class RunTableFacts:
    """What the runs list plans with: the array columns' statistics (ADR 0035), whether the
    database holds a run's times in order (migration 0026, ADR 0034) and the runs' tag sets
    (migration 0027, ADR 0036), its indexed params keys (ADR 0037) and its valid indexes (a
    head walks a creator's runs where migration 0028's index is there). This code runs on 0025
    to 0027 too (0026 to 0028 rolled back): there none of them is relied on."""

    elements: ElementStatistics
    times_in_order: bool
    tag_sets: bool
    indexed_params: IndexedParams = NO_INDEXED_PARAMS
    valid_indexes: frozenset[str] = frozenset()
    names: NameSample = NO_NAME_SAMPLE

    @classmethod
    def from_rows(cls, rows: Sequence[Any], index_rows: Sequence[Any] = ()) -> RunTableFacts:
        """The facts from :data:`TABLE_FACTS_SQL`'s rows and
        :data:`~expsvc.run.param_indexes.RUN_INDEXES_SQL`'s."""
        first = rows[0] if rows else (None,) * 7
        indexes = (parsed(*row) for row in index_rows)
        indexed = IndexedParams.of(index for index in indexes if index is not None)
        valid = frozenset(row[0] for row in index_rows if row[2])
        elements = ElementStatistics.from_rows(rows)
        names = NameSample.of(first[6])
        return cls(elements, bool(first[4]), bool(first[5]), indexed, valid, names)

    def page_statements(
        self,
        shape: Shape | None,
        values: dict[str, Any],
        ordering: Ordering,
        after_null: bool | None,
    ) -> tuple[Built[Select[Any]], Built[Select[Any]] | None]:
        """The statements a page runs on a table of these facts (:func:`page_statements`).
        A name substring with a common word is read by its other words
        (:mod:`expsvc.run.name_words`): their pattern is added to ``values``."""
        shape = self.names.narrowed(shape, values)
        rare = rare_part(shape, values, self.elements) if has_array_condition(shape) else None
        return page_statements(
            shape,
            values,
            ordering,
            after_null,
            rare,
            self.times_in_order,
            self.tag_sets,
            self.indexed_params.keys_in(ordering.column),
            frozenset(
                field
                for field, by_order in EQUALITY_INDEXES.items()
                if by_order[ordering.column] in self.valid_indexes
            ),
            self.indexed_params.keys_in(CREATOR),
        )


_NO_FACTS = RunTableFacts(ElementStatistics(-1.0, {}), times_in_order=False, tag_sets=False)
_TABLE_FACTS: weakref.WeakKeyDictionary[AsyncEngine, tuple[float, RunTableFacts]] = (
    weakref.WeakKeyDictionary()
)
