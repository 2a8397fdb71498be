"""SQL checks shared by the partition tests and the partitioning migrations' tests: which
partitions a table has, where rows live, how the models differ from the converted tables."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.models import Base

PARTITIONS = """
SELECT child.relname AS name,
       (regexp_match(pg_get_expr(child.relpartbound, child.oid), 'TO \\(''([^'']+)''\\)'))[1]
         ::timestamptz AS upper
FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
WHERE pg_inherits.inhparent = $1::regclass ORDER BY upper
"""


async def sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def partitions(url: str, table: str) -> dict[str, datetime]:
    """Partition name → its upper bound."""
    return {row["name"]: row["upper"] for row in await sql(url, PARTITIONS, table)}


async def rows_by_partition(url: str, table: str) -> dict[str, int]:
    rows = await sql(
        url,
        f"SELECT tableoid::regclass::text AS part, count(*) FROM {table} GROUP BY 1",  # noqa: S608
    )
    return {row["part"]: row["count"] for row in rows}


def model_differences(url: str, tables: Sequence[str]) -> list[Any]:
    """How the models differ from the database for ``tables`` (their partitions aside: the
    models do not declare them)."""

    def ours(difference: Any) -> bool:
        text = repr(difference)
        if "_legacy" in text or "_p20" in text:
            return False
        return any(table in text for table in tables)

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if ours(d)]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def relfilenodes(url: str, tables: Sequence[str]) -> dict[str, int]:
    """The storage file of ``tables`` and their ``*_legacy`` partitions, by name (unchanged
    when a conversion attached a table without copying it)."""
    rows = await sql(
        url,
        "SELECT relname, relfilenode FROM pg_class WHERE relname = ANY($1::text[])",
        [*tables, *(f"{t}_legacy" for t in tables)],
    )
    return {row["relname"]: row["relfilenode"] for row in rows}
