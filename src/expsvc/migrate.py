"""Alembic, driven from code: ``expsvc db ...``, embedded start-up and the test template."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Held while migrating so several processes starting at once upgrade one after another.
MIGRATION_LOCK_ID = 0x6578_7073_7663  # "expsvc"
# Every migration's session waits at most this long for a table lock, online and in --sql output
# (env.py): a DDL statement queued behind a long transaction would queue every query of the live
# service behind itself; failing fast and re-running the upgrade is the lesser harm
# (docs/migrations.md). Migrations may set a shorter one (SET LOCAL) for a statement.
MIGRATION_LOCK_TIMEOUT = "5s"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        "file_template",
        "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s",
    )
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; call from a thread when an event loop is running."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


async def current_revision(connection: AsyncConnection) -> str | None:
    def read(sync_connection: object) -> str | None:
        context = MigrationContext.configure(sync_connection)  # type: ignore[arg-type]
        return context.get_current_revision()

    return await connection.run_sync(read)
