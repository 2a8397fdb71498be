"""Migration 0018: the webhook owner's groups, a column added without a rewrite, which the
previous release's writes leave empty; the downgrade drops it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from expsvc.migrate import downgrade, upgrade

# A webhook as the previous release writes it: it knows nothing of owner_groups.
_OLD_RELEASE_INSERT = (
    "INSERT INTO webhook_endpoints (id, url, secret, created_by) "
    "VALUES (gen_random_uuid(), 'https://hooks.example.com/', 'whsec_x', $1)"
)


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def _column(url: str) -> list[asyncpg.Record]:
    return asyncio.run(
        _sql(
            url,
            "SELECT data_type, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_name = 'webhook_endpoints' AND column_name = 'owner_groups'",
        )
    )


def _relfilenode(url: str) -> int:
    (row,) = asyncio.run(
        _sql(url, "SELECT relfilenode FROM pg_class WHERE oid = 'webhook_endpoints'::regclass")
    )
    return int(row["relfilenode"])


def test_the_column_is_added_in_place_and_the_previous_release_leaves_it_empty(
    database_url: str,
) -> None:
    downgrade(database_url, "0015")
    assert _column(database_url) == []
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "a-before"))
    before = _relfilenode(database_url)

    upgrade(database_url)
    assert _relfilenode(database_url) == before  # catalogue only: the table was not rewritten
    ((data_type, nullable, default),) = _column(database_url)
    assert (data_type, nullable, default) == ("ARRAY", "NO", "'{}'::text[]")
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "b-during"))  # the previous release
    rows = asyncio.run(
        _sql(database_url, "SELECT owner_groups FROM webhook_endpoints ORDER BY created_by")
    )
    assert [list(row["owner_groups"]) for row in rows] == [[], []]
