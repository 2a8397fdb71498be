from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from expsvc import __version__
from expsvc.db import async_database_url
from expsvc.migrate import MIGRATION_LOCK_ID, MIGRATION_LOCK_TIMEOUT
from expsvc.models import Base
from expsvc.release.catalogue import current_release
from expsvc.release.repository import RecordedRelease, record, record_statement

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to the migrations")
    return str(url)


def _this_release() -> RecordedRelease:
    """What an upgrade to the head records in schema_releases: this code's version and the oldest
    release whose code runs on its head (releases.toml). A test may give another."""
    given = config.attributes.get("schema_release")
    if isinstance(given, RecordedRelease):
        return given
    return RecordedRelease(__version__, current_release().oldest_compatible_release)


def _lock_timeout() -> str:
    """The session's lock_timeout for every migration (expsvc.migrate); a test may give another."""
    return str(config.attributes.get("lock_timeout") or MIGRATION_LOCK_TIMEOUT)


def _set_lock_timeout_statement() -> str:
    # A session-level SET (not SET LOCAL): it outlives each migration's own transaction
    # (transaction_per_migration) and covers the autocommit blocks of concurrent index builds.
    return f"SET lock_timeout = '{_lock_timeout()}'"


def run_offline() -> None:
    context.configure(
        url=async_database_url(_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        transaction_per_migration=True,
    )
    # First in the script, before any migration's BEGIN (scripts/check-migrations checks it).
    context.execute(_set_lock_timeout_statement())
    with context.begin_transaction():
        context.run_migrations()
        head = context.get_head_revision()
        if isinstance(head, str) and context.get_revision_argument() in (head, "head", "heads"):
            this = _this_release()
            context.execute(record_statement(head, this.release, this.oldest_compatible_release))


def _run_sync(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        compare_type=True,
    )
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    # Set once the advisory lock is held: lock_timeout applies to advisory locks too, and a
    # process starting while another migrates must wait for it, however long it takes.
    connection.execute(text(_set_lock_timeout_statement()))
    connection.commit()
    try:
        context.run_migrations()
        _record_head(connection)
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()


def _record_head(connection: Connection) -> None:
    """After an upgrade that reached the head (every upgrade, the usual case), record it with its
    release, so that older code can tell whether it still runs on it (docs/adr/0017)."""
    head = context.get_head_revision()
    if not isinstance(head, str) or context.get_context().get_current_revision() != head:
        return  # a downgrade, or an upgrade to an older revision: no release stands behind it
    this = _this_release()
    record(connection, head, this.release, this.oldest_compatible_release)
    connection.commit()


async def run_online() -> None:
    engine = create_async_engine(
        async_database_url(_url()), poolclass=NullPool, hide_parameters=True
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
