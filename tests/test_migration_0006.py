"""Migration 0006 creates exactly the integration tables the models describe, and reverts."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import downgrade, upgrade
from expsvc.models import Base

TABLES = {
    "integration_inbox",
    "orphan_telemetry",
    "run_artifacts",
    "capture_reconciliation_reports",
}


def _inspect(url: str) -> tuple[set[str], list[Any]]:
    """The database's tables, and how the models of our tables differ from it."""

    def read(connection: Connection) -> tuple[set[str], list[Any]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
        ours = [d for d in diff if TABLES & _names(d)]
        return set(inspect(connection).get_table_names()), ours

    async def run() -> tuple[set[str], list[Any]]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _names(difference: Any) -> set[str]:
    """Every table name a difference mentions (its shape varies with its kind)."""
    found: set[str] = set()
    stack = [difference]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            found.add(item)
        else:
            for attribute in ("name", "table"):
                value = getattr(item, attribute, None)
                if isinstance(value, str):
                    found.add(value)
                elif value is not None:
                    stack.append(value)
    return found


def test_the_models_match_the_migrated_schema(database_url: str) -> None:
    tables, differences = _inspect(database_url)
    assert tables >= TABLES
    assert differences == []


def test_downgrade_below_0006_drops_the_new_tables_and_upgrade_restores_them(
    database_url: str,
) -> None:
    before, _ = _inspect(database_url)
    downgrade(database_url, "0005")
    after, _ = _inspect(database_url)
    assert after & TABLES == set()
    assert {"runs", "capture_sessions", "webhook_endpoints"} <= after
    upgrade(database_url)
    assert _inspect(database_url) == (before, [])
