"""Every migration runs with a lock_timeout (env.py, online and in --sql output), and the
migration lint of scripts/check-migrations fails on what it exists to catch (docs/migrations.md)."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from alembic import command
from sqlalchemy.exc import DBAPIError

from expsvc.migrate import MIGRATION_LOCK_TIMEOUT, alembic_config, downgrade

ROOT = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_migrations", ROOT / "scripts" / "check_migrations.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_migrations_offline_sql_sets_the_lock_timeout_first(tmp_path: Path) -> None:
    checker = _checker()
    rendered = checker.render_migrations(tmp_path)
    assert [path.stem for path in rendered][:2] == ["0001", "0002"]
    for path in rendered:
        sql = path.read_text()
        assert checker.lock_timeout_problem(sql) is None, path.name
        assert sql.startswith(f"SET lock_timeout = '{MIGRATION_LOCK_TIMEOUT}';"), path.name


def test_the_lock_timeout_check_fails_without_it_or_after_begin() -> None:
    checker = _checker()
    body = "BEGIN;\n\nCREATE TABLE t (id uuid);\n\nCOMMIT;\n"
    assert "sets no lock_timeout" in checker.lock_timeout_problem(body)
    late = body.replace("BEGIN;\n", "BEGIN;\nSET lock_timeout = '5s';\n")
    assert "only after its first BEGIN" in checker.lock_timeout_problem(late)
    assert checker.lock_timeout_problem("SET lock_timeout = '5s';\n\n" + body) is None


def test_squawk_with_our_rules_refuses_a_blocking_index_build_and_a_new_not_null_column(
    tmp_path: Path,
) -> None:
    checker = _checker()
    blocking = tmp_path / "9999.sql"
    blocking.write_text(
        "SET lock_timeout = '5s';\nBEGIN;\n"
        "CREATE INDEX ix_runs_name ON runs (name);\n"
        "ALTER TABLE runs ADD COLUMN owner text NOT NULL;\n"
        "COMMIT;\n"
    )
    assert checker.squawk([blocking]) != 0
    safe = tmp_path / "9998.sql"
    safe.write_text(
        "SET lock_timeout = '5s';\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_runs_name ON runs (name);\n"
    )
    assert checker.squawk([safe]) == 0


def _hold_lock(url: str, table: str, held: threading.Event, release: threading.Event) -> None:
    """Hold ``table`` until ``release`` is set, or 15 s at most."""

    async def hold() -> None:
        connection = await asyncpg.connect(url)
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                held.set()
                await asyncio.to_thread(release.wait, 15)
        finally:
            await connection.close()

    asyncio.run(hold())


def test_an_online_migration_gives_up_on_a_held_lock_instead_of_queueing(
    database_url: str,
) -> None:
    """0010 (which sets no lock_timeout of its own) references experiments; while a long
    transaction holds that table, the upgrade fails within the environment's lock_timeout."""
    downgrade(database_url, "0009")
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(
        target=_hold_lock, args=(database_url, "experiments", held, release), daemon=True
    )
    holder.start()
    assert held.wait(10)
    config = alembic_config(database_url)
    config.attributes["lock_timeout"] = "300ms"
    started = time.monotonic()
    with pytest.raises(DBAPIError, match="lock timeout"):
        command.upgrade(config, "0010")
    # Without the setting the upgrade would have waited for the holder (15 s), then succeeded.
    assert time.monotonic() - started < 10
    release.set()
    holder.join()
    command.upgrade(config, "head")
