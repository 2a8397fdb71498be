"""Migration 0013: the schema_releases table, and the migration environment's record of every
head it upgrades to (docs/adr/0017)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc import __version__
from expsvc.db import async_database_url
from expsvc.migrate import alembic_config, downgrade, head_revision, upgrade
from expsvc.models import Base
from expsvc.release.catalogue import current_release


def _differences(url: str) -> list[Any]:
    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [d for d in compare_metadata(context, Base.metadata) if "schema_releases" in repr(d)]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _sql(url: str, statement: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement))
    finally:
        await connection.close()


def _records(url: str) -> list[tuple[str, str, str]] | None:
    """schema_releases' rows, None without the table."""
    (exists,) = asyncio.run(_sql(url, "SELECT to_regclass('schema_releases') IS NOT NULL"))
    if not exists[0]:
        return None
    rows = asyncio.run(
        _sql(url, "SELECT revision, release, oldest_compatible_release FROM schema_releases")
    )
    return [(row[0], row[1], row[2]) for row in rows]


def test_the_table_matches_the_model_and_every_upgrade_to_the_head_is_recorded(
    database_url: str,
) -> None:
    ours = (head_revision(), __version__, current_release().oldest_compatible_release)
    assert _records(database_url) == [ours]
    assert _differences(database_url) == []

    downgrade(database_url, "0012")
    assert _records(database_url) is None

    upgrade(database_url, "0013")
    if head_revision() != "0013":  # not at the head: no release stands behind 0013 alone
        assert _records(database_url) == []
    upgrade(database_url)
    assert _records(database_url) == [ours]

    # An upgrade with nothing to apply records the head again (the last release to run it wins).
    asyncio.run(_sql(database_url, "UPDATE schema_releases SET release = 'older'"))
    upgrade(database_url)
    assert _records(database_url) == [ours]


def test_the_offline_sql_records_the_head(capsys: Any) -> None:
    command.upgrade(alembic_config("postgresql://nowhere/db"), "0011:head", sql=True)
    sql = capsys.readouterr().out
    assert "CREATE TABLE IF NOT EXISTS schema_releases" in sql
    values = (head_revision(), __version__, current_release().oldest_compatible_release)
    insert = "INSERT INTO schema_releases (revision, release, oldest_compatible_release) VALUES "
    assert insert + "('{}', '{}', '{}')".format(*values) in sql
