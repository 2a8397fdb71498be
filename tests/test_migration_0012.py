"""Migration 0012: webhook experiment filters (a column added without a rewrite, which the
previous release's writes leave empty) and the feed's type index (built concurrently, rebuilt by a
re-run after an interrupted build); the downgrade refuses to drop filters in use."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import alembic_config, downgrade, upgrade
from expsvc.models import Base

COLUMN = "experiment_ids"
INDEX = "ix_outbox_events_type_seq"
# A webhook as the previous release writes it: it knows nothing of experiment_ids.
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


def _differences(url: str) -> list[Any]:
    """How the models differ from the database in what this migration adds."""

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        ours = (COLUMN, INDEX)
        return [
            d for d in compare_metadata(context, Base.metadata) if any(n in repr(d) for n in ours)
        ]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _index_valid(url: str) -> bool | None:
    (row,) = asyncio.run(
        _sql(
            url,
            "SELECT (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1))",
            INDEX,
        )
    )
    return row[0]  # type: ignore[no-any-return]


def _has_column(url: str) -> bool:
    rows = asyncio.run(
        _sql(
            url,
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'webhook_endpoints' AND column_name = $1",
            COLUMN,
        )
    )
    return bool(rows)


def _relfilenode(url: str) -> int:
    (row,) = asyncio.run(
        _sql(url, "SELECT relfilenode FROM pg_class WHERE oid = 'webhook_endpoints'::regclass")
    )
    return int(row["relfilenode"])


def _filters(url: str) -> list[list[Any]]:
    rows = asyncio.run(
        _sql(url, "SELECT experiment_ids FROM webhook_endpoints ORDER BY created_by")
    )
    return [list(row["experiment_ids"]) for row in rows]


def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    assert _differences(database_url) == []
    assert _has_column(database_url)
    assert _index_valid(database_url) is True


def test_the_column_is_added_in_place_and_the_previous_release_leaves_it_empty(
    database_url: str,
) -> None:
    downgrade(database_url, "0011")
    assert not _has_column(database_url)
    assert _index_valid(database_url) is None
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "a-before"))
    before = _relfilenode(database_url)

    upgrade(database_url)
    assert _relfilenode(database_url) == before  # catalogue only: the table was not rewritten
    # The previous release, still live during the rollout, creates another one.
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "b-during"))
    assert _filters(database_url) == [[], []]
    assert _differences(database_url) == []
    assert _index_valid(database_url) is True


def test_the_downgrade_refuses_while_a_webhook_filters_experiments(database_url: str) -> None:
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "a"))
    filtered = "UPDATE webhook_endpoints SET experiment_ids = ARRAY[gen_random_uuid()]"
    asyncio.run(_sql(database_url, filtered))
    with pytest.raises(CommandError, match="1 webhooks deliver only some experiments' events"):
        downgrade(database_url, "0011")
    assert _has_column(database_url)
    assert _index_valid(database_url) is True

    asyncio.run(_sql(database_url, "UPDATE webhook_endpoints SET experiment_ids = '{}'"))
    downgrade(database_url, "0011")
    assert not _has_column(database_url)
    assert _index_valid(database_url) is None
    upgrade(database_url)
    assert _differences(database_url) == []


def test_a_rerun_after_an_interrupted_index_build_completes(database_url: str) -> None:
    downgrade(database_url, "0018")  # 0019 partitions the outbox: no CONCURRENTLY on it after

    async def interrupt() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(f"DROP INDEX {INDEX}")
            await connection.execute("UPDATE alembic_version SET version_num = '0011'")
            # Two events of one type: a unique build fails and leaves an INVALID index behind.
            await connection.execute(
                "INSERT INTO outbox_events (seq, event_id, type, entity_type, entity_id,"
                " occurred_at, data) SELECT g, gen_random_uuid(), 'experiment.created',"
                " 'experiment', gen_random_uuid(), now(), '{}' FROM generate_series(1, 2) AS g"
            )
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await connection.execute(
                    f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON outbox_events (type)"
                )
        finally:
            await connection.close()

    asyncio.run(interrupt())
    assert _index_valid(database_url) is False
    upgrade(database_url)  # the column exists already; the invalid index is rebuilt
    assert _differences(database_url) == []
    assert _index_valid(database_url) is True


def test_the_offline_sql_builds_the_index_if_missing_and_drops_the_column(capsys: Any) -> None:
    """``--sql`` has no database to ask whether the index is valid or which webhooks filter:
    the script says what it will do instead of failing."""
    config = alembic_config("postgresql://nowhere/db")
    command.upgrade(config, "0011:0012", sql=True)
    upgrade_sql = capsys.readouterr().out
    assert "ADD COLUMN IF NOT EXISTS experiment_ids" in upgrade_sql
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_outbox_events_type_seq" in upgrade_sql
    command.downgrade(config, "0012:0011", sql=True)
    downgrade_sql = capsys.readouterr().out
    assert "DROP COLUMN IF EXISTS experiment_ids" in downgrade_sql
    assert "DROP INDEX CONCURRENTLY IF EXISTS ix_outbox_events_type_seq" in downgrade_sql
