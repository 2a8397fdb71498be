"""Indexed params keys (ADR 0037, docs/filtering.md#indexed-params-keys): an index of a params
key in a list order, which the operator asks for with ``expsvc params index KEY``.

A params equality (``params=optimizer=lion``) is served by the GIN on ``params``, which finds the
matches but not their order: a list of a common value sorted by another column reads every
match and sorts them (on 1,000,000 runs, the 250,000 ``lion`` runs by name: 230 ms, 700 ms of
CPU with parallel workers; half of the filter mix's database time). An index of
``(params -> 'key', <sort column>, id)`` gives that value's runs in order, so the head of the
page walks them and stops at a page (0.2 ms).

Which keys deserve one depends on the installation's data (which keys its users filter on), so
these indexes are not in the migrations: the operator builds them (``CREATE INDEX
CONCURRENTLY``, the service stays up) and drops them. They are named after the key's hash and
the sort column, and the runs list learns of them from the catalog (valid indexes of that name
only), within :data:`~expsvc.run.rare_elements.STATISTICS_TTL_SECONDS`. A list is right with or
without them: they only change which runs its head walks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from expsvc.filtering.sql import PARAM_KEY
from expsvc.run.schemas import RunOrderBy

INDEX_PREFIX = "ix_runs_param_"
SORT_COLUMNS: tuple[str, ...] = tuple(order.value for order in RunOrderBy)
# The key's index with the creator, (params -> 'KEY', created_by, id): a list that asks for one
# creator's runs of a value reads only those (a creator who never used the value: none), where
# the key's order indexes and the creator's would each hand it all their runs to intersect.
CREATOR = "created_by"
INDEX_COLUMNS: tuple[str, ...] = (*SORT_COLUMNS, CREATOR)
# The catalog's text of an index's first column when it is a params key's: the key.
_KEY_EXPRESSION = re.compile(r"^\(params -> '([A-Za-z0-9_\-]{1,128})'::text\)$")


class ParamIndexError(ValueError):
    """A key or sort column that cannot be indexed."""


def index_name(key: str, column: str) -> str:
    """The index of ``key`` in ``column`` order: the key's hash (a key may be 128 characters,
    a name 63), then the column."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"{INDEX_PREFIX}{digest}_{column}"


def checked(key: str, columns: Sequence[str]) -> tuple[str, ...]:
    """The columns to index ``key`` with (every list order and the creator when none is
    given), or a :class:`ParamIndexError`. The key is checked as the filters check it, which
    also makes it safe as a literal in the index's expression."""
    if not PARAM_KEY.match(key):
        raise ParamIndexError(f"a params key is 1 to 128 letters, digits, '_' or '-': {key!r}")
    unknown = sorted(set(columns) - set(INDEX_COLUMNS))
    if unknown:
        raise ParamIndexError(
            f"unknown column {', '.join(unknown)}; known: {', '.join(INDEX_COLUMNS)}"
        )
    return tuple(columns) or INDEX_COLUMNS


def key_member(key: str) -> str:
    """The SQL of ``key``'s value in a run's params, as the index holds it (``key`` checked)."""
    return f"(params -> '{key}')"


def _create_sql(key: str, column: str) -> str:
    order = 'name COLLATE "C"' if column == "name" else column
    # Not partial to the runs that have the key: PostgreSQL keeps statistics of an index's
    # expression only for an index of every row, and without them it took a common value for
    # a rare one (0.5 % of the runs) and read all of them (the head's walk became a sort).
    name = index_name(key, column)
    return f"CREATE INDEX CONCURRENTLY {name} ON runs ({key_member(key)}, {order}, id)"


@dataclass(frozen=True)
class ParamIndex:
    """One index of a params key, as the catalog holds it."""

    key: str
    column: str
    name: str
    valid: bool
    size_bytes: int


# Every index of the runs table: its name, its first column's text, whether it is valid (a
# CREATE INDEX CONCURRENTLY that failed leaves an invalid one) and its size.
RUN_INDEXES_SQL = """
SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid, 1, true) AS first_column,
       i.indisvalid AS valid, pg_relation_size(i.indexrelid) AS size_bytes
FROM pg_index AS i JOIN pg_class AS ic ON ic.oid = i.indexrelid
WHERE i.indrelid = 'runs'::regclass
ORDER BY ic.relname
"""


def parsed(name: str, first_column: str, valid: bool, size_bytes: int) -> ParamIndex | None:
    """The index of a params key that a catalog row describes (None: the name and the
    expression do not agree, so not one this module built)."""
    match = _KEY_EXPRESSION.match(first_column)
    if match is None:
        return None
    key = match.group(1)
    for column in INDEX_COLUMNS:
        if name == index_name(key, column):
            return ParamIndex(key, column, name, valid, size_bytes)
    return None


@dataclass(frozen=True)
class IndexedParams:
    """The params keys with a valid index, by sort column (or :data:`CREATOR`): what a runs
    list may walk, and read a creator's runs of a value by."""

    by_column: dict[str, frozenset[str]]

    @classmethod
    def of(cls, indexes: Iterable[ParamIndex]) -> IndexedParams:
        by_column: dict[str, set[str]] = {}
        for index in indexes:
            if index.valid:
                by_column.setdefault(index.column, set()).add(index.key)
        return cls({column: frozenset(keys) for column, keys in by_column.items()})

    def keys_in(self, column: str) -> frozenset[str]:
        return self.by_column.get(column, frozenset())


NO_INDEXED_PARAMS = IndexedParams({})


class ParamIndexRepository:
    """Builds, lists and drops the indexes on a connection in autocommit (CREATE and DROP
    INDEX CONCURRENTLY run outside a transaction), as the table's owner."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def listed(self) -> list[ParamIndex]:
        rows = await self.connection.execute(text(RUN_INDEXES_SQL))
        found = (parsed(*row) for row in rows)
        return [index for index in found if index is not None]

    async def build(self, key: str, columns: Sequence[str]) -> list[str]:
        """Build ``key``'s index in each of ``columns`` order that has no valid one (an invalid
        one, left by a build that failed, is dropped and built again), then ANALYZE the runs
        so that the planner knows the key's values. The names built."""
        existing = {index.name: index for index in await self.listed()}
        await self.connection.execute(text("SET statement_timeout = 0"))
        built = []
        for column in columns:
            name = index_name(key, column)
            index = existing.get(name)
            if index is not None and index.valid:
                continue
            if index is not None:
                await self.connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
            await self.connection.execute(text(_create_sql(key, column)))
            built.append(name)
        await self.connection.execute(text("ANALYZE runs"))
        return built

    async def drop(self, key: str, columns: Sequence[str]) -> list[str]:
        """Drop ``key``'s index in each of ``columns`` order. The names dropped."""
        existing = {index.name for index in await self.listed()}
        dropped = []
        for column in columns:
            name = index_name(key, column)
            if name in existing:
                await self.connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                dropped.append(name)
        return dropped
