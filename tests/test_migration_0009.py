"""Migration 0009: audit rows' server request id and the API tokens table; it reverts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import downgrade, upgrade
from expsvc.models import Base

OURS = ("server_request_id", "api_tokens")


def _differences(url: str) -> list[Any]:
    """How the models differ from the database in what this migration adds."""

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
        # audit_log's partitions (0021) are not in the models: the parent is.
        return [
            d
            for d in diffs
            if any(name in repr(d) for name in OURS)
            and not any(part in repr(d) for part in ("audit_log_legacy", "audit_log_p20"))
        ]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _schema(url: str) -> tuple[bool, bool]:
    """(audit_log has server_request_id, api_tokens exists)."""
    connection = await asyncpg.connect(url)
    try:
        column = await connection.fetchval(
            "SELECT EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'audit_log'"
            " AND column_name = 'server_request_id')"
        )
        table = await connection.fetchval("SELECT to_regclass('api_tokens') IS NOT NULL")
        return bool(column), bool(table)
    finally:
        await connection.close()


def test_upgrade_matches_the_models_and_reverts(database_url: str) -> None:
    assert asyncio.run(_schema(database_url)) == (True, True)
    assert _differences(database_url) == []
    downgrade(database_url, "0008")
    assert asyncio.run(_schema(database_url)) == (False, False)
    upgrade(database_url)
    assert asyncio.run(_schema(database_url)) == (True, True)
