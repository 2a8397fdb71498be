"""Migration 0007: the liveness columns and the partial index, as the models describe them;
reverts; and a re-run after an interrupted concurrent index build."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import downgrade, upgrade
from expsvc.models import Base

COLUMNS = {"heartbeat_timeout_seconds", "max_duration_seconds"}
INDEX = "ix_runs_running_started_at"


def _differences(url: str) -> list[Any]:
    """How the models differ from the database in what this migration adds (the comparison
    of older expression indexes is noisy and not this migration's business)."""

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        ours = (*COLUMNS, INDEX)
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


async def _schema(url: str) -> tuple[set[tuple[str, str]], bool | None]:
    connection = await asyncpg.connect(url)
    try:
        columns = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_name IN ('experiments', 'runs') AND column_name = ANY($1::text[])",
            sorted(COLUMNS),
        )
        valid = await connection.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", INDEX
        )
        return {(r["table_name"], r["column_name"]) for r in columns}, valid
    finally:
        await connection.close()


def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    assert _differences(database_url) == []
    columns, valid = asyncio.run(_schema(database_url))
    assert columns == {(t, c) for t in ("experiments", "runs") for c in COLUMNS}
    assert valid is True


def test_downgrade_to_0006_drops_them_and_upgrade_restores_them(database_url: str) -> None:
    downgrade(database_url, "0006")
    assert asyncio.run(_schema(database_url)) == (set(), None)
    upgrade(database_url)
    assert _differences(database_url) == []
    assert asyncio.run(_schema(database_url))[1] is True


def test_a_rerun_after_an_interrupted_index_build_completes(database_url: str) -> None:
    async def interrupt() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(f"DROP INDEX {INDEX}")
            await connection.execute("UPDATE alembic_version SET version_num = '0006'")
            # Two runs of one status: a unique build fails and leaves an INVALID index behind.
            await connection.execute(
                "INSERT INTO experiments (id, name, created_by)"
                " VALUES (gen_random_uuid(), 'e', 't');"
                "INSERT INTO runs (id, experiment_id, name, created_by)"
                " SELECT gen_random_uuid(), id, 'r', 't' FROM experiments, generate_series(1, 2)"
            )
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await connection.execute(
                    f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON runs (status)"
                )
        finally:
            await connection.close()

    asyncio.run(interrupt())
    assert asyncio.run(_schema(database_url))[1] is False
    upgrade(database_url)  # the columns exist already; the invalid index is rebuilt
    assert _differences(database_url) == []
    assert asyncio.run(_schema(database_url))[1] is True
