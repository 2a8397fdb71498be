"""Reads run straight on the driver: the hot read statements without SQLAlchemy's per-statement
machinery.

A read request (``GET``/``HEAD``, autocommit, see :mod:`expsvc.routing`) runs one statement.
Through the ORM session, about a third of the process's CPU for a ``GET /v1/runs/{id}`` went to
SQLAlchemy's execution path around it (execution context, cursor adapter, greenlet hops,
result objects), not to asyncpg or PostgreSQL (docs/performance.md, "Where the time goes").
Here the statement, built once by a repository as usual, is compiled once to asyncpg's ``$n``
text and run with ``asyncpg.Connection.fetch`` on the session's own pooled connection; the rows
come back as named tuples shaped like SQLAlchemy's (``row.version``, ``row._fields``).

Only sessions marked :data:`READS_ON_DRIVER` (the read sessions: no transaction to keep in step
with) take this path; a write transaction's statements all go through SQLAlchemy, which owns its
BEGIN. What the driver raises goes through SQLAlchemy's own error handling, so a dead connection
invalidates the pool and is retried exactly as before (:func:`expsvc.db.failed_on_first_statement`),
and errors keep their SQLAlchemy types and ``hide_parameters``.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util.concurrency import greenlet_spawn

# ``AsyncSession.info`` key: this session's reads may run on the driver (read sessions only).
READS_ON_DRIVER = "expsvc_reads_on_driver"
# ``Connection.info`` key the engine's statement counter uses (see expsvc.db).
STATEMENTS_OK = "expsvc_statements_ok"

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]  # its paramstyle is asyncpg's $n


class DriverStatement:
    """One statement as asyncpg runs it: ``$n`` text, the bound names in order with their
    SQLAlchemy bind processors, and the named tuple its rows become."""

    __slots__ = ("_arguments", "_row_type", "sql")

    def __init__(self, sql: str, arguments: Sequence[tuple[str, Callable[[Any], Any] | None]]):
        self.sql = sql
        self._arguments = tuple(arguments)
        self._row_type: Any = None

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        return [
            value if process is None else process(value)
            for name, process in self._arguments
            for value in (values[name],)
        ]

    def rows(self, records: Sequence[Any]) -> list[Any]:
        if not records:
            return []
        row_type = self._row_type
        if row_type is None:
            names = list(records[0].keys())
            row_type = self._row_type = namedtuple("Row", names, rename=True)
        return [row_type(*record) for record in records]


_COMPILED: weakref.WeakKeyDictionary[Select[Any], DriverStatement | None] = (
    weakref.WeakKeyDictionary()
)


def driver_statement(statement: Select[Any]) -> DriverStatement | None:
    """``statement`` compiled for the driver, once; None when it cannot run there as text
    (expanding ``IN`` lists and literal-rendered values are rendered per execution)."""
    try:
        return _COMPILED[statement]
    except KeyError:
        pass
    compiled: Any = statement.compile(dialect=_DIALECT)
    if "POSTCOMPILE" in compiled.string or compiled.literal_execute_params:
        prepared = None
    else:
        processors = compiled._bind_processors
        names = compiled.positiontup or ()
        prepared = DriverStatement(compiled.string, [(n, processors.get(n)) for n in names])
    _COMPILED[statement] = prepared
    return prepared


async def fetch_rows(
    session: AsyncSession, statement: Select[Any], values: Mapping[str, Any], *, prebuilt: bool
) -> Sequence[Any]:
    """The rows of ``statement`` with ``values`` bound: on the driver when the session is a read
    session and the statement runs there, through SQLAlchemy otherwise.

    ``prebuilt``: the statement is built once and reused (cached by its builder), every value
    it needs is in ``values``. Only such statements go to the driver: one built per request
    would be compiled per request here, where SQLAlchemy's cache compiles its shape once.
    """
    use_driver = prebuilt and session.info.get(READS_ON_DRIVER)
    prepared = driver_statement(statement) if use_driver else None
    if prepared is None:
        rows: Sequence[Any] = (await session.execute(statement, values)).all()
        return rows
    connection: Any = (await session.connection()).sync_connection
    adapted: Any = connection.connection.dbapi_connection
    arguments = prepared.arguments(values)
    try:
        records = await adapted.driver_connection.fetch(prepared.sql, *arguments)
    except Exception as error:
        failed = (connection, adapted, prepared.sql, tuple(arguments), error)
        await greenlet_spawn(_raise_as_sqlalchemy, *failed)
        raise  # not reached: the above always raises
    connection.info[STATEMENTS_OK] = connection.info.get(STATEMENTS_OK, 0) + 1
    return prepared.rows(records)


def _raise_as_sqlalchemy(
    connection: Any, adapted: Any, sql: str, arguments: tuple[Any, ...], error: Exception
) -> None:
    """Raise ``error`` as SQLAlchemy would have: the adapter's DB-API translation, then the
    connection's handling (``handle_error`` events, disconnect detection, pool invalidation)."""
    try:
        adapted._handle_exception(error)
    except Exception as dbapi_error:
        connection._handle_dbapi_exception(dbapi_error, sql, arguments, None, None)
