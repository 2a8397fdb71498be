"""SQL checks shared by the partition tests: which partitions a table has, where rows live."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

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
