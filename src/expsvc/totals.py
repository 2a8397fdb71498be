"""A list's total: an exact count within a time budget, or the planner's estimate.

Part of the repository layer. An exact count of a broad filter at a million rows reads every
matching row (hundreds of milliseconds), so it runs under its own ``statement_timeout``: lists
are reads, which run without a transaction (expsvc.routing), so the count sets the connection's
timeout to the budget and sets the previous one back afterwards, whatever happened (inside a
transaction the same is done with ``SET LOCAL`` in a savepoint). When the budget runs out
PostgreSQL cancels the count and the caller answers the planner's estimate instead, saying so
(``total_exact: false``).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import ClauseElement, Executable, Select, func, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from expsvc.db import sqlstate

_QUERY_CANCELED = "57014"
_SET_LOCAL_TIMEOUT = text(
    "SELECT current_setting('statement_timeout') AS previous, "
    "set_config('statement_timeout', :timeout, true)"
)
_SET_TIMEOUT = text(
    "SELECT current_setting('statement_timeout') AS previous, "
    "set_config('statement_timeout', :timeout, false)"
)


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement (``ANALYZE``: run it too), its values bound like
    the statement's own."""

    inherit_cache = False

    def __init__(self, statement: Select[Any], *, analyze: bool = False) -> None:
        self.statement = statement
        self.analyze = analyze


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    options = "ANALYZE, FORMAT JSON" if element.analyze else "FORMAT JSON"
    return f"EXPLAIN ({options}) " + compiler.process(element.statement, **kw)


async def estimate_rows(session: AsyncSession, query: Select[Any], values: dict[str, Any]) -> int:
    """The planner's estimate of how many rows ``query`` returns (no rows are read)."""
    raw = (await session.execute(Explain(query), values)).scalar_one()
    plan = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return int(plan[0]["Plan"]["Plan Rows"])


async def count_within(
    session: AsyncSession, query: Select[Any], values: dict[str, Any], budget_ms: int
) -> int | None:
    """The number of rows of ``query``, or None if counting takes longer than ``budget_ms``."""
    counting = select(func.count()).select_from(query.subquery())
    local = not _autocommit(session)
    try:
        if local:
            async with session.begin_nested():
                return await _count_under(session, counting, values, budget_ms, local=True)
        return await _count_under(session, counting, values, budget_ms, local=False)
    except sa_exc.DBAPIError as error:
        if sqlstate(error) == _QUERY_CANCELED:
            return None
        raise


def _autocommit(session: AsyncSession) -> bool:
    level = session.sync_session.get_bind().get_execution_options().get("isolation_level")
    return level == "AUTOCOMMIT"


async def _count_under(
    session: AsyncSession,
    counting: Select[Any],
    values: dict[str, Any],
    budget_ms: int,
    *,
    local: bool,
) -> int:
    # The same statement sets the budget and sets the previous timeout back: prepared once,
    # the restore is quick even under a budget of a millisecond.
    set_timeout = _SET_LOCAL_TIMEOUT if local else _SET_TIMEOUT
    previous = (await session.execute(set_timeout, {"timeout": f"{budget_ms}ms"})).scalar_one()
    if local:  # a cancelled count rolls the savepoint back, and its SET LOCAL with it
        counted = int((await session.execute(counting, values)).scalar_one())
        await session.execute(set_timeout, {"timeout": previous})
        return counted
    try:
        return int((await session.execute(counting, values)).scalar_one())
    finally:
        await _restore(session, previous)


async def _restore(session: AsyncSession, previous: str) -> None:
    try:
        await session.execute(_SET_TIMEOUT, {"timeout": previous})
    except sa_exc.DBAPIError:
        # Even the restore ran out of the budget: the connection must not go back to the pool
        # with the budget as its timeout, so it is closed instead (the pool opens another).
        await (await session.connection()).invalidate()
        raise


async def count_or_estimate(
    session: AsyncSession, query: Select[Any], values: dict[str, Any], budget_ms: int | None
) -> tuple[int, bool]:
    """How many rows ``query`` returns and whether exactly: counted within ``budget_ms``
    (None: not counted), else the planner's estimate."""
    if budget_ms is not None:
        counted = await count_within(session, query, values, budget_ms)
        if counted is not None:
            return counted, True
    return await estimate_rows(session, query, values), False
