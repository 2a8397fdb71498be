"""Migration 0014: the run filters' indexes, built concurrently while the previous release writes
runs, rebuilt by a re-run after an interrupted build, dropped by the downgrade."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import alembic_config, downgrade, upgrade
from expsvc.models import Base

INDEXES = (
    "ix_runs_git_sha_c",
    "ix_runs_git_branch_created_at_id",
    "ix_runs_created_by_created_at_id",
    "ix_runs_participants",
    "ix_runs_params",
    "ix_runs_name_trgm",
)
# A run as the previous release writes it (it knows nothing of the new indexes).
_OLD_RELEASE_INSERT = """
INSERT INTO experiments (id, name, created_by) VALUES (gen_random_uuid(), 'e', 'old');
INSERT INTO runs (id, experiment_id, name, created_by, git_sha, git_branch, params, participants)
SELECT gen_random_uuid(), (SELECT id FROM experiments LIMIT 1), 'run-' || g, 'old',
       md5(g::text), 'main', jsonb_build_object('lr', g), ARRAY['alice']
FROM generate_series(1, 200) AS g
"""


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        if args:
            return list(await connection.fetch(statement, *args))
        await connection.execute(statement)
        return []
    finally:
        await connection.close()


def _validity(url: str) -> dict[str, bool | None]:
    rows = asyncio.run(
        _sql(
            url,
            "SELECT name, (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(name))"
            " AS valid FROM unnest($1::text[]) AS name",
            list(INDEXES),
        )
    )
    return {row["name"]: row["valid"] for row in rows}


# An index on an expression (COLLATE "C") is one autogenerate cannot compare: its definition is
# checked from the catalogue instead.
_EXPRESSION_INDEXES = {"ix_runs_git_sha_c": 'ON public.runs USING btree (git_sha COLLATE "C")'}


def _differences(url: str) -> list[Any]:
    compared = set(INDEXES) - set(_EXPRESSION_INDEXES)

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            d
            for d in compare_metadata(context, Base.metadata)
            if any(n in repr(d) for n in compared)
        ]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    definitions = asyncio.run(
        _sql(url, "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY($1)",
             list(_EXPRESSION_INDEXES))
    )  # fmt: skip
    wrong = [
        (row["indexname"], row["indexdef"])
        for row in definitions
        if not row["indexdef"].endswith(_EXPRESSION_INDEXES[row["indexname"]])
    ]
    return asyncio.run(run()) + wrong


def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    assert _differences(database_url) == []
    assert set(_validity(database_url).values()) == {True}


def test_the_indexes_build_over_the_previous_releases_runs_and_drop_again(
    database_url: str,
) -> None:
    downgrade(database_url, "0013")
    assert set(_validity(database_url).values()) == {None}
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT))

    upgrade(database_url)
    assert set(_validity(database_url).values()) == {True}
    assert _differences(database_url) == []
    # The new indexes serve what the previous release wrote.
    rows = asyncio.run(
        _sql(database_url, "SELECT count(*) AS n FROM runs WHERE params @> $1::jsonb", '{"lr": 7}')
    )
    assert rows[0]["n"] == 1


def test_a_rerun_after_an_interrupted_index_build_completes(database_url: str) -> None:
    async def interrupt() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("DROP INDEX ix_runs_git_branch_created_at_id")
            await connection.execute("UPDATE alembic_version SET version_num = '0013'")
            await connection.execute(_OLD_RELEASE_INSERT.split(";")[0])
            await connection.execute(
                "INSERT INTO runs (id, experiment_id, name, created_by, git_branch) "
                "SELECT gen_random_uuid(), (SELECT id FROM experiments LIMIT 1), 'r', 'x', 'b' "
                "FROM generate_series(1, 2)"
            )
            # A unique build fails on the duplicates and leaves an INVALID index behind.
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await connection.execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY ix_runs_git_branch_created_at_id "
                    "ON runs (git_branch)"
                )
        finally:
            await connection.close()

    asyncio.run(interrupt())
    assert _validity(database_url)["ix_runs_git_branch_created_at_id"] is False
    upgrade(database_url)
    assert set(_validity(database_url).values()) == {True}
    assert _differences(database_url) == []


def test_the_offline_sql_builds_each_index_concurrently(capsys: Any) -> None:
    config = alembic_config("postgresql://nowhere/db")
    command.upgrade(config, "0013:0014", sql=True)
    upgrade_sql = capsys.readouterr().out
    for name in INDEXES:
        assert f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name}" in upgrade_sql
    command.downgrade(config, "0014:0013", sql=True)
    downgrade_sql = capsys.readouterr().out
    for name in INDEXES:
        assert f"DROP INDEX CONCURRENTLY IF EXISTS {name}" in downgrade_sql
