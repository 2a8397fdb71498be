"""How a page of runs is read (docs/filtering.md#how-a-page-is-read): which statements, built
once per shape of filters, order and page start, and the rules that choose them: the head walk,
its longer walk, the sorted matches, one experiment's planned walk, a rare array condition read
alone."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    CompoundSelect,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import ExternallyTraversible, replacement_traverse

from expsvc.auth.access import access_parameters, may
from expsvc.auth.principal import Principal
from expsvc.driver import PLAN_EACH_CALL, Built
from expsvc.filtering.sql import Shape, shape_sql
from expsvc.lifecycle import Status
from expsvc.models import run_tag_sets, runs
from expsvc.pagination import Ordering
from expsvc.repository import PAGE_LIMIT_PARAMETER, EntityRepository, page_values
from expsvc.run.fields import RUN_FIELDS, filter_values, filtered
from expsvc.run.schemas import RunFilter


class RunsInOrder(EntityRepository):
    """The runs table in a list's order: names sort by code point (COLLATE "C") so the
    ix_runs_name_c_id index serves them."""

    table = runs

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column


# How many runs in order a page's first statement filters at most, per run the page fetches
# (see RunRepository.search): 1,530 for the default page of 50 (and one more to know there is a
# next). A head that comes up short is pure cost (the second statement reads the page), and
# on 1,000,000 runs more than half of issue 12's cases came up short: a head of 5,000 cost
# them 13 ms; 1,500 filled within 1 % as many pages (docs/performance.md).
HEAD_ROWS_PER_ROW = 30
_HEAD_ROWS = "head_rows"


def head_rows(limit: int) -> int:
    """How many runs the head of a page of ``limit`` runs walks at most."""
    return HEAD_ROWS_PER_ROW * limit


# A head that found some matches but not a page walks again, further, when the rate it found
# them at predicts a page within this many times its length: the walk costs about 1 µs a run,
# the second statement as much a match it sorts, and a head that found a few matches among
# its runs comes before thousands of them (on 1,000,000 runs, docs/performance.md).
LONGER_HEAD_FACTOR = 10
# The walk aims this much past the page the found rate predicts: matches are not spread evenly.
_LONGER_HEAD_MARGIN = 1.5


def longer_head(found: int, limit: int, walked: int) -> int | None:
    """How many runs a second walk of the head reads after the first read ``walked`` runs and
    found ``found`` of a page of ``limit`` (None: not worth it; the sorted matches instead)."""
    if found == 0:
        return None
    predicted = math.ceil(walked * limit / found * _LONGER_HEAD_MARGIN)
    return predicted if predicted <= walked * LONGER_HEAD_FACTOR else None


Fetch = Callable[[Built[Select[Any]], dict[str, Any]], Awaitable[Sequence[Row[Any]]]]


async def read_page(
    fetch: Fetch,
    first: Built[Select[Any]],
    second: Built[Select[Any]] | None,
    values: dict[str, Any],
) -> Sequence[Row[Any]]:
    """A page from :func:`page_statements`' statements, each run by ``fetch``: the first; if
    it is a head that came short, the head again, further, when :func:`longer_head` predicts a
    page there; then the second (see :meth:`RunRepository.search`)."""
    limit = values[PAGE_LIMIT_PARAMETER]
    rows = await fetch(first, values)
    if second is None or len(rows) >= limit:
        return rows
    longer = longer_head(len(rows), limit, values[_HEAD_ROWS])
    if longer is not None:
        rows = await fetch(first, {**values, _HEAD_ROWS: longer})
        if len(rows) >= limit:
            return rows
    return await fetch(second, values)


class _SortedAfterFiltering(RunsInOrder):
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
def page_parts(
    where: RunFilter,
    principal: Principal,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> tuple[Shape | None, bool | None, dict[str, Any]]:
    """A page's filter shape, whether its keyset starts after a null, and every value its
    statements bind."""
    shape, values = filter_values(where)
    values.update(access_parameters(principal))
    values[_HEAD_ROWS] = head_rows(limit)
    after_null = None if after is None else after[0] is None
    return shape, after_null, page_values(values, after, limit)


# The statuses in which a run's time is always set: the lifecycle, as migration 0022's CHECK
# constraints hold it (a run archived from draft never started, so archived is in neither).
TIME_SET_IN: dict[str, frozenset[str]] = {
    "started_at": frozenset({Status.running, Status.finished, Status.failed}),
    "finished_at": frozenset({Status.finished, Status.failed}),
}
_ALL_STATUSES = frozenset(Status)


# The orders with a (status, column, id) index (migration 0024; 0002 for creation order).
STATUS_ORDERED = frozenset({"created_at", "started_at", "finished_at"})


class HeadWalk(StrEnum):
    """Which runs the head walks in order (see :func:`head_walk`)."""

    all = "all"  # every run: the sort column's (column, id) index
    set = "set"  # only runs whose sort column is set (an index condition: NULLs are skipped)
    running = "running"  # only running runs, by start: the partial ix_runs_running_started_at
    # Only runs in the statuses the filters admit, each status's runs in order on
    # (status, column, id) (migration 0024), merged: every run walked has an admitted status.
    statuses = "statuses"


def _statuses(shape: Shape, values: dict[str, Any]) -> frozenset[str] | None:
    """The statuses a status condition of ``shape`` admits (None: not such a condition)."""
    if shape[0] != "cmp" or shape[1] != "status":
        return None
    _, _, op, _, parameter = shape
    given = values[parameter]
    chosen = frozenset([given] if isinstance(given, str) else given)
    return _ALL_STATUSES - chosen if op == "!=" else chosen


def _admitted_statuses(shape: Shape | None, values: dict[str, Any]) -> frozenset[str]:
    """The statuses the runs ``shape`` selects can be in (every status if it does not say)."""
    if shape is None:
        return _ALL_STATUSES
    if shape[0] == "and":
        admitted = _ALL_STATUSES
        for part in shape[1]:
            admitted &= _admitted_statuses(part, values)
        return admitted
    if shape[0] == "or":
        return frozenset().union(*(_admitted_statuses(part, values) for part in shape[1]))
    return _statuses(shape, values) or _ALL_STATUSES


def _tag_parts(shape: Shape) -> list[Shape]:
    """The tag conditions of ``shape``'s top-level AND (``tag``, ``tag_any``, ``tag_none``,
    ``tags:x``), negated or not."""
    return [
        part
        for part in (shape[1] if shape[0] == "and" else (shape,))
        if (part[1] if part[0] == "not" else part)[0:2] == ("cmp", "tags")
    ]


def _tag_sets(shape: Shape, values: dict[str, Any]) -> tuple[set[str], set[str], list[set[str]]]:
    """The tags every run ``shape`` selects carries, those none carries, and the sets of which
    each carries one (``tag``, ``tag_none``, ``tag_any``, ``tags:x``), from its top-level AND."""
    required: set[str] = set()
    excluded: set[str] = set()
    any_of: list[set[str]] = []
    for part in _tag_parts(shape):
        negated = part[0] == "not"
        condition = part[1] if negated else part
        _, _, op, _, parameter = condition
        tags = set(values[parameter])
        if not negated:
            (required.update if op == "has_all" else any_of.append)(tags)
        elif op == "has_any" or len(tags) == 1:  # none of them / not the one
            excluded |= tags
    return required, excluded, any_of


def selects_nothing(shape: Shape | None, values: dict[str, Any]) -> bool:
    """Whether the filters ``shape`` with ``values`` select no run whatever the data: statuses
    that exclude each other (``status=running`` and ``filter=status = "failed"``), a tag both
    required and excluded (``tag=x&tag_none=x``), or a ``tag_any`` set all excluded. Such a
    list is answered without the database (an empty page, a total of 0)."""
    if shape is None:
        return False
    if not _admitted_statuses(shape, values):
        return True
    required, excluded, any_of = _tag_sets(shape, values)
    return bool(required & excluded) or any(tags <= excluded for tags in any_of)


def _compares(shape: Shape | None, column: str) -> bool:
    """Whether every run ``shape`` selects has ``column`` set because a comparison of it must
    hold (SQL: a comparison with NULL is never true)."""
    if shape is None:
        return False
    if shape[0] == "and":
        return any(_compares(part, column) for part in shape[1])
    if shape[0] == "or":
        return bool(shape[1]) and all(_compares(part, column) for part in shape[1])
    return bool(shape[0] == "cmp" and shape[1] == column)


def head_walk(shape: Shape | None, values: dict[str, Any], column: str) -> HeadWalk:
    """How the head walks runs in ``column`` order for filters ``shape`` with ``values``.

    Runs without the sort value sort first in descending order, and a status filter's runs
    may lie far from the start of the order. When the filters admit only some statuses
    (``status=failed,archived``, ``status!=draft``), the walk takes each admitted status's runs
    in order on ``(status, column, id)`` and merges them, so it reads only runs of those
    statuses (issue 12's "NULLs first" cases, and a status whose runs are far from the start:
    running runs by ``finished_at`` ascending). Running runs by start walk the reaper's
    partial index. Otherwise, when the filters compare the sort value, the walk skips the runs
    without it."""
    if column not in STATUS_ORDERED:
        return HeadWalk.all
    admitted = _admitted_statuses(shape, values)
    if column == "started_at" and admitted == {Status.running}:
        return HeadWalk.running
    if admitted != _ALL_STATUSES:
        return HeadWalk.statuses
    if column in TIME_SET_IN and _compares(shape, column):
        return HeadWalk.set
    return HeadWalk.all


# The fields whose equality has an index in each order that a head may walk (``created_by``:
# migration 0014 for creation order, 0028 for the others), by field and sort column.
EQUALITY_INDEXES: dict[str, dict[str, str]] = {
    "created_by": {
        "created_at": "ix_runs_created_by_created_at_id",
        "name": "ix_runs_created_by_name_c_id",
        "started_at": "ix_runs_created_by_started_at_id",
        "finished_at": "ix_runs_created_by_finished_at_id",
    },
}

# What a head walks instead of every run: ("param", key, value parameter) for an indexed params
# key (ADR 0037), ("field", field, parameter) for a field of EQUALITY_INDEXES.
EqualityWalk = tuple[str, str, str]


def equality_walk(
    shape: Shape | None,
    values: dict[str, Any],
    indexed_keys: frozenset[str],
    walk_fields: frozenset[str],
) -> EqualityWalk | None:
    """The equality ANDed at the top of ``shape`` that has an index in the list's order, which
    the head walks instead of every run: a params key's (``indexed_keys``, the operator's
    choice, ADR 0037) first, else a field's of ``walk_fields`` (one value). None: no such
    equality."""
    if shape is None:
        return None
    parts = shape[1] if shape[0] == "and" else (shape,)
    by_key = _param_equality(parts, values, indexed_keys)
    if by_key is not None:
        return by_key
    for part in parts:
        if part[0] == "cmp" and part[1] in walk_fields and _one_value(part, part[1]):
            return "field", part[1], part[4]
    return None


def _one_value(part: Shape, field: str) -> bool:
    """Whether ``part`` is an equality of ``field`` with one value."""
    if part[0] != "cmp" or part[1] != field:
        return False
    return bool(part[2] == "=" or (part[2] == "in" and part[3] == "one"))


def creator_value(
    shape: Shape | None, values: dict[str, Any], creator_keys: frozenset[str]
) -> EqualityWalk | None:
    """A params equality ANDed at the top of ``shape`` whose key has an index with the creator
    (``creator_keys``, ADR 0037), when ``created_by`` of one value is ANDed there too: the
    sorted matches then read that creator's runs of the value on the index, instead of every
    run of the value (a creator who never used it: none) or every run of the creator."""
    if shape is None or not creator_keys:
        return None
    parts = shape[1] if shape[0] == "and" else (shape,)
    if not any(_one_value(part, "created_by") for part in parts):
        return None
    return _param_equality(parts, values, creator_keys)


def _param_equality(
    parts: Sequence[Shape], values: dict[str, Any], keys: frozenset[str]
) -> EqualityWalk | None:
    """The first ``params.KEY = value`` among ``parts`` whose key is one of ``keys``."""
    for part in parts:
        if part[0] == "param" and part[1] == "=" and values[part[3]] in keys:
            return "param", values[part[3]], part[4]
    return None


def _walk_condition(walk: EqualityWalk) -> ColumnElement[bool]:
    """The condition of an equality walk as its index holds it: a params key a literal (checked
    as the filters check a key), so that every plan of the statement may use the index."""
    kind, name, parameter = walk
    if kind == "field":
        on_field: ColumnElement[bool] = runs.c[name] == bindparam(parameter)
        return on_field
    member = runs.c.params.op("->", return_type=JSONB)(literal_column(f"'{name}'"))
    value = cast(bindparam(parameter + "_scalar", type_=Text), JSONB)
    equal: ColumnElement[bool] = member == value
    return equal


def tag_conditions(shape: Shape | None, values: dict[str, Any]) -> int:
    """How many tag conditions the filters ``shape`` AND together: each tag of ``tag`` (all
    of them), a ``tag_any`` set, a ``tag_none`` set, ``tags:x`` in ``filter=``."""
    if shape is None:
        return 0
    if shape[0] == "and":
        return sum(tag_conditions(part, values) for part in shape[1])
    if shape[0] == "not":
        return 1 if tag_conditions(shape[1], values) else 0
    if shape[0] != "cmp" or shape[1] != "tags":
        return 0
    _, _, op, _, parameter = shape
    return len(values[parameter]) if op == "has_all" else 1


def loose_conditions(shape: Shape | None, values: dict[str, Any]) -> int:
    """How many conditions the filters ``shape`` AND together that each hold on many runs,
    with no index in creation order of their own: the tag conditions (:func:`tag_conditions`),
    each ``params`` condition at the top, and ``created_by``.

    PostgreSQL estimates them as independent, which they are not (in ``expsvc seed``'s data
    every ``sweep`` run is a ``gpu`` run, erin never uses lion): with two or more in creation
    order it expected a page within a few hundred runs of its walk (the ``created_at`` index or
    the creator's) and read all of them when they matched nothing together (2.5 s for a tag
    pair, 450 ms for ``created_by+params``, on a million runs). Such a list reads like the
    other orders instead: the next runs in creation order (of the admitted statuses), then
    the matches through the conditions' indexes, where the bitmaps intersect."""
    if shape is None:
        return 0
    parts = shape[1] if shape[0] == "and" else (shape,)
    return tag_conditions(shape, values) + sum(
        1 for part in parts if part[0] == "param" or (part[0] == "cmp" and part[1] == "created_by")
    )


def matches_a_name_pattern(shape: Shape | None) -> bool:
    """Whether the filters AND a pattern of the name at the top: a substring (``name_contains``,
    ``name:x`` in ``filter=``) or a prefix (``name_prefix``).

    PostgreSQL estimates how many runs match a pattern from the 100 or so names of ANALYZE's
    sample: none of them holding a substring makes 0.01 % of the runs, one of them 1 %; a
    prefix, from where it falls between two sampled names. When it guessed high, it walked the
    creation index to every run for a pattern a hundred runs match: 1 s for ``name_prefix``
    with a tag on 1,000,000 runs after one ANALYZE and 5 ms after another, and all 100,000 runs
    of the plan test's seed for ``name_contains=run-4242`` (11 runs) on one seed in about a
    hundred. Such a list reads like the other orders instead: the next runs in creation order,
    then the matches through the name's own indexes (trigram, ``COLLATE "C"``)."""
    if shape is None:
        return False
    return any(
        part[0] == "cmp" and part[1] == "name" and part[2] in (":", "prefix")
        for part in (shape[1] if shape[0] == "and" else (shape,))
    )


def some_tag_set_meets(shape: Shape) -> ColumnElement[bool]:
    """Whether a tag set some run has had meets the tag conditions of ``shape``'s top-level AND
    (migration 0027's ``run_tag_sets``, ADR 0036): if none does, no run does.

    Conditions a GIN serves but cannot intersect cheaply never meet in many lists
    (``tag=sweep&tag_none=gpu`` where every ``sweep`` run is a ``gpu`` run: a GIN cannot say
    "not gpu", so the list rechecked 200,000 runs to find none, 130 to 250 ms on a million).
    Uncorrelated, the EXISTS is an InitPlan that PostgreSQL evaluates once, before anything
    else, as a one-time filter: when it is false no run is read. A set of NULL tags (the sets
    not kept: 0027 rolled back) meets any conditions."""
    conditions = [shape_sql(part, RUN_FIELDS) for part in _tag_parts(shape)]
    met = and_(*(_on_columns(condition, run_tag_sets.c) for condition in conditions))
    return exists().where(or_(run_tag_sets.c.tags.is_(None), met))


def asks_tag_sets(shape: Shape | None, values: dict[str, Any], tag_sets: bool) -> bool:
    """Whether a list with filters ``shape`` asks the runs' tag sets first
    (:func:`some_tag_set_meets`): two tag conditions or more, where the database keeps the
    sets (``tag_sets``, :class:`~expsvc.run.repository.RunTableFacts`)."""
    return tag_sets and tag_conditions(shape, values) >= 2


# The times a run's time is never earlier than (migration 0026's checks): a lower bound on one
# of them bounds the later ones.
TIMES_NOT_BEFORE: dict[str, tuple[str, ...]] = {
    "started_at": ("created_at",),
    "finished_at": ("created_at", "started_at"),
}
# A bound on an earlier time, as the bound it sets on a later one (``=`` only from below).
_LOWER_BOUND_OPS = {">": ">", ">=": ">=", "=": ">="}


def _sort_ranges(
    shape: Shape | None, ordering: Ordering, times_in_order: bool
) -> list[ColumnElement[bool]]:
    """The filters' own comparisons of the sort column (``created_after`` in creation order,
    ``started_before`` by start), ANDed at the top: the head walk takes them as index
    conditions, so it starts where the matches can start instead of reading runs the range
    excludes (still at most head_rows entries).

    In ascending start or end order, a lower bound on an earlier time bounds the sort column
    too (``created_after=X`` by ``started_at``: a run starts no earlier than it was created).
    Only ascending: runs without the sort time match the filters as well, and only ascending
    order puts them last, after every run the bound keeps. Only where the database holds the
    order (``times_in_order``)."""
    if shape is None:
        return []
    column = ordering.column
    parts = shape[1] if shape[0] == "and" else (shape,)
    ranges = [
        shape_sql(part, RUN_FIELDS)
        for part in parts
        if part[0] == "cmp" and part[1] == column and part[2] in ("<", "<=", ">", ">=", "=")
    ]
    if times_in_order and not ordering.descending:
        ranges += [
            RUN_FIELDS.fields[column].sql(variant, _LOWER_BOUND_OPS[op], parameter)
            for _, earlier, op, variant, parameter in (p for p in parts if p[0] == "cmp")
            if earlier in TIMES_NOT_BEFORE.get(column, ()) and op in _LOWER_BOUND_OPS
        ]
    return ranges


# The partial index's predicate, inlined so that every plan of the statement may use it.
_RUNNING: ColumnElement[str] = literal_column("'running'")


def _on_columns(
    condition: ColumnElement[bool], columns: ReadOnlyColumnCollection[str, ColumnElement[Any]]
) -> ColumnElement[bool]:
    """``condition`` on ``columns`` (a subquery's, another table's) instead of the runs table's
    columns of the same names (subqueries of other tables left as they are)."""

    def replace(element: ExternallyTraversible, **_: Any) -> ExternallyTraversible | None:
        if isinstance(element, Column) and element.table is runs:
            return columns[element.name]
        return None

    adapted: ColumnElement[bool] = replacement_traverse(condition, {}, replace)
    return adapted


def _walk_by_status(
    walked: Select[Any], ordering: Ordering, after_null: bool | None, statuses: frozenset[str]
) -> Select[Any] | CompoundSelect[Any]:
    """The next head_rows runs of ``walked`` in ``ordering`` among ``statuses``: each status's
    walk on ``(status, column, id)`` with its own limit, merged in order (a Merge Append: it
    reads at most head_rows entries and one more per status). The statuses are literals (the
    statement is cached per set of them), so every plan may use the indexes."""
    branches = [
        RunsInOrder.page_statement(
            walked.where(runs.c.status == literal_column(f"'{Status(status).value}'")),
            ordering,
            after_null,
        ).limit(bindparam(_HEAD_ROWS))
        for status in sorted(statuses)
    ]
    if len(branches) == 1:  # one status: its walk alone (a union of one would not parse)
        return branches[0]
    key: tuple[ColumnElement[Any], ...] = (literal_column(ordering.column), literal_column("id"))
    order = [part.desc() if ordering.descending else part.asc() for part in key]
    return union_all(*branches).order_by(*order).limit(bindparam(_HEAD_ROWS))


def _head_statement(
    shape: Shape | None,
    ordering: Ordering,
    after_null: bool | None,
    walk: HeadWalk,
    statuses: frozenset[str] = _ALL_STATUSES,
    times_in_order: bool = False,
    tag_gate: bool = False,
    indexed: EqualityWalk | None = None,
) -> Select[Any]:
    """The matches among the next head_rows runs in ``ordering`` (of those ``walk`` takes): the
    inner walk has no filter but an index condition and a limit, so it reads at most head_rows
    index entries whatever the planner thinks. ``tag_gate``: first, whether a known tag set
    meets the tag conditions (:func:`some_tag_set_meets`). ``indexed``: an equality with an
    index in this order (:func:`equality_walk`): the walk takes only the
    runs of that value, on that index."""
    walked = select(runs).where(*_sort_ranges(shape, ordering, times_in_order))
    if indexed is not None:
        walked = walked.where(_walk_condition(indexed))
    if walk is HeadWalk.set:
        walked = walked.where(runs.c[ordering.column].is_not(None))
    elif walk is HeadWalk.running:
        walked = walked.where(runs.c.status == _RUNNING)
    if walk is HeadWalk.statuses:
        head = _walk_by_status(walked, ordering, after_null, statuses).subquery("head")
    else:
        walk_statement = RunsInOrder.page_statement(walked, ordering, after_null)
        head = walk_statement.limit(bindparam(_HEAD_ROWS)).subquery("head")
    condition = may(runs.c.experiment_id)
    if shape is not None:
        condition = and_(shape_sql(shape, RUN_FIELDS), condition)
        if tag_gate:
            condition = and_(some_tag_set_meets(shape), condition)
    column: ColumnElement[Any] = head.c[ordering.column]
    if ordering.column == "name":
        column = column.collate("C")
    order = (column.desc(), head.c.id.desc()) if ordering.descending else (column, head.c.id)
    return (
        select(*head.c)
        .where(_on_columns(condition, head.c))
        .order_by(*order)
        .limit(bindparam(PAGE_LIMIT_PARAMETER))
    )


def page_statements(
    shape: Shape | None,
    values: dict[str, Any],
    ordering: Ordering,
    after_null: bool | None,
    rare: int | None = None,
    times_in_order: bool = False,
    tag_sets: bool = False,
    indexed_keys: frozenset[str] = frozenset(),
    walk_fields: frozenset[str] = frozenset(),
    creator_keys: frozenset[str] = frozenset(),
) -> tuple[Built[Select[Any]], Built[Select[Any]] | None]:
    """The statements a page runs (:meth:`RunRepository.search`): the first, and the one that
    reads the page instead when the first yields less than a page (None: the first is the
    page). Each is built and compiled once per shape (the driver keeps the compiled form,
    :class:`~expsvc.driver.Built`); ``values`` choose among them. ``rare``: the position of
    a rare array condition (:func:`~expsvc.run.rare_elements.rare_part`), whose runs the
    statements that find the matches read alone, then filter. ``times_in_order``: whether
    the database holds a run's times in order; ``tag_sets``: whether it holds the runs' tag
    sets (:class:`RunTableFacts`). With two tag conditions or more, every statement first asks
    whether a known tag set meets them (:func:`some_tag_set_meets`). ``indexed_keys``: the
    params keys with an index in this order (ADR 0037), ``walk_fields`` the fields: a head that
    walks every run (or every run with the sort value) walks the runs of such an equality
    instead (:func:`equality_walk`). ``creator_keys``: the params keys with an index with the
    creator: the sorted matches of such a key's value and one creator read them on it
    (:func:`creator_value`)."""
    gate = asks_tag_sets(shape, values, tag_sets)
    if pins_experiment(shape):
        return _built(_planned_statement, shape, ordering, after_null, None, gate), None
    walk = head_walk(shape, values, ordering.column)
    # Only a walk with no other index condition: an equality is not an index condition on the
    # (status, column, id) indexes, and a walk that filters is no longer bounded.
    indexed = None
    if walk in (HeadWalk.all, HeadWalk.set):
        indexed = equality_walk(shape, values, indexed_keys, walk_fields)
    planned = (
        ordering.column == "created_at"
        and loose_conditions(shape, values) < 2
        and not matches_a_name_pattern(shape)
    )
    # In creation order the planner serves a field's equality itself, on its (field,
    # created_at, id) index; not a params key's (its condition is the GIN's containment).
    if planned and (indexed is None or indexed[0] == "field"):
        return _built(_planned_statement, shape, ordering, after_null, rare, gate), None
    statuses = _admitted_statuses(shape, values) if walk is HeadWalk.statuses else _ALL_STATUSES
    head_key = (walk, statuses, times_in_order, gate, indexed)
    by_creator = creator_value(shape, values, creator_keys)
    return (
        _built(_head_statement, shape, ordering, after_null, *head_key),
        _built(_search_statement, shape, ordering, after_null, rare, gate, by_creator),
    )


def _built(builder: Callable[..., Select[Any]], *key: Any) -> Built[Select[Any]]:
    """``builder``'s statement for ``key`` (its arguments), known by them."""
    return Built((builder.__name__, *key), functools.partial(builder, *key))


def pins_experiment(shape: Shape | None) -> bool:
    """Whether the filters select the runs of one experiment (``experiment_id`` with one
    value, ANDed at the top). Its runs have an index in every order (migration 0024), so a
    page is one statement, the planner choosing between walking the experiment's runs in order
    and the other filters' indexes: either reads at most the experiment's runs."""
    if shape is None:
        return False
    parts = shape[1] if shape[0] == "and" else (shape,)
    return any(_one_value(part, "experiment_id") for part in parts)


def _planned_statement(
    shape: Shape | None,
    ordering: Ordering,
    after_null: bool | None,
    rare: int | None = None,
    tag_gate: bool = False,
) -> Select[Any]:
    """A page of the filters' matches in ``ordering``, the planner choosing the index with
    each call's values (creation order, or one experiment's runs)."""
    query = gated(filtered(select(runs), shape), shape, tag_gate)
    statement = RunsInOrder.page_statement(query, ordering, after_null)
    return _planned_each_call(_reading_rare_first(statement, shape, rare), shape)


def _search_statement(
    shape: Shape | None,
    ordering: Ordering,
    after_null: bool | None,
    rare: int | None = None,
    tag_gate: bool = False,
    by_creator: EqualityWalk | None = None,
) -> Select[Any]:
    """Every match of the filters, sorted: the second statement of a selective page.
    ``by_creator``: a params equality as the key's index with the creator holds it
    (:func:`creator_value`), ANDed so that the planner may read the matches on that index (the
    filters' containment says the same; the GIN cannot take the creator with it)."""
    query = gated(filtered(select(runs), shape), shape, tag_gate)
    if by_creator is not None:
        query = query.where(_walk_condition(by_creator))
    statement = _SortedAfterFiltering.page_statement(query, ordering, after_null)
    return _planned_each_call(_reading_rare_first(statement, shape, rare), shape)


def gated(query: Select[Any], shape: Shape | None, tag_gate: bool) -> Select[Any]:
    """``query`` reading runs only if a known tag set meets the tag conditions (``tag_gate``,
    :func:`some_tag_set_meets`)."""
    if shape is None or not tag_gate:
        return query
    return query.where(some_tag_set_meets(shape))


def _reading_rare_first(
    statement: Select[Any], shape: Shape | None, rare: int | None
) -> Select[Any]:
    """``statement`` reading only the runs of the rare array condition at ``rare`` in the
    filters' top-level AND, through its GIN alone: they are a subquery behind ``OFFSET 0``,
    which PostgreSQL plans on its own instead of ANDing the other conditions' bitmaps into it
    (:mod:`expsvc.run.rare_elements`). The statement's conditions then filter those runs."""
    if shape is None or rare is None:
        return statement
    part = shape[1][rare] if shape[0] == "and" else shape
    rare_runs = select(runs).where(shape_sql(part, RUN_FIELDS)).offset(literal_column("0"))
    adapted: Select[Any] = ClauseAdapter(rare_runs.subquery("rare_runs")).traverse(statement)
    return adapted


def _planned_each_call(statement: Select[Any], shape: Shape | None) -> Select[Any]:
    """With filters, which index serves a page depends on their values: PostgreSQL plans the
    statement with each call's (:data:`expsvc.driver.PLAN_EACH_CALL`). Without, one plan
    (the creation index, or the sort column's) is right for every call."""
    if shape is None:
        return statement
    return statement.execution_options(**{PLAN_EACH_CALL: True})
