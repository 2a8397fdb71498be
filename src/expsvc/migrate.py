"""Alembic, driven from code: ``expsvc db ...``, embedded start-up and the test template."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from expsvc.db import async_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The role migration 0015 grants the service's privileges to, unless told another
# (EXPSVC_DATABASE_RUNTIME_ROLE).
DEFAULT_RUNTIME_ROLE = "expsvc_runtime"
# Held while migrating so several processes starting at once upgrade one after another.
MIGRATION_LOCK_ID = 0x6578_7073_7663  # "expsvc"
# Every migration's session waits at most this long for a table lock, online and in --sql output
# (env.py): a DDL statement queued behind a long transaction would queue every query of the live
# service behind itself; failing fast and re-running the upgrade is the lesser harm
# (docs/migrations.md). Migrations may set a shorter one (SET LOCAL) for a statement.
MIGRATION_LOCK_TIMEOUT = "5s"
# Downgrades that drop the audit log or its protection: `expsvc db downgrade` names the loss and
# wants --force (docs/adr/0019).
LOSSY_DOWNGRADES = {
    "0015": (
        "audit_log's protection: the triggers' ENABLE ALWAYS (session_replication_role = "
        "replica would skip them again), and the runtime role's grants on tables made later"
    ),
    "0004": "the table audit_log and every row in it (the record of every change, kept for good)",
}


def alembic_config(
    database_url: str | None = None, runtime_role: str = DEFAULT_RUNTIME_ROLE
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s",
    )
    config.attributes["database_url"] = database_url
    config.attributes["runtime_role"] = runtime_role
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def upgrade(
    database_url: str, revision: str = "head", runtime_role: str = DEFAULT_RUNTIME_ROLE
) -> None:
    """Blocking; call from a thread when an event loop is running."""
    command.upgrade(alembic_config(database_url, runtime_role), revision)


def downgrade(database_url: str, revision: str, runtime_role: str = DEFAULT_RUNTIME_ROLE) -> None:
    command.downgrade(alembic_config(database_url, runtime_role), revision)


async def current_revision(connection: AsyncConnection) -> str | None:
    def read(sync_connection: object) -> str | None:
        context = MigrationContext.configure(sync_connection)  # type: ignore[arg-type]
        return context.get_current_revision()

    return await connection.run_sync(read)


def database_revision(database_url: str) -> str | None:
    """The database's revision (blocking; None on an empty database)."""

    async def read() -> str | None:
        engine = create_async_engine(async_database_url(database_url), poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return await current_revision(connection)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def downgrade_losses(current: str | None, target: str) -> list[str]:
    """What a downgrade from ``current`` to ``target`` loses for good, one line per revision."""
    if current is None:
        return []
    script = ScriptDirectory.from_config(alembic_config())
    try:
        reverted = script.iterate_revisions(current, target, inclusive=False)
        revisions = [step.revision for step in reverted]
    except (CommandError, RevisionError):
        return []  # not a downgrade alembic can do: it says why itself
    return [f"{rev}: {LOSSY_DOWNGRADES[rev]}" for rev in revisions if rev in LOSSY_DOWNGRADES]
