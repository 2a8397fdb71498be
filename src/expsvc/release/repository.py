"""``schema_releases``: written by the migration environment, read by readiness."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Insert, bindparam, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from expsvc.models import schema_releases


@dataclass(frozen=True)
class RecordedRelease:
    """What the database says of its revision: who migrated it there, and who may run on it."""

    release: str
    oldest_compatible_release: str


def record_statement(revision: str, release: str, oldest_compatible_release: str) -> Insert:
    """Insert or refresh the record of ``revision`` (the last release to migrate to it wins)."""
    values = {"release": release, "oldest_compatible_release": oldest_compatible_release}
    statement = insert(schema_releases).values(revision=revision, **values)
    return statement.on_conflict_do_update(
        index_elements=[schema_releases.c.revision],
        set_={**values, "applied_at": statement.excluded.applied_at},
    )


_READ = select(schema_releases.c.release, schema_releases.c.oldest_compatible_release).where(
    schema_releases.c.revision == bindparam("revision")
)


def record(connection: Connection, revision: str, release: str, oldest: str) -> None:
    connection.execute(record_statement(revision, release, oldest))


async def recorded(connection: AsyncConnection, revision: str) -> RecordedRelease | None:
    """The record of ``revision``; None without one, or without the table (before 0013)."""
    exists = await connection.scalar(text("SELECT to_regclass('schema_releases') IS NOT NULL"))
    if not exists:
        return None
    row = (await connection.execute(_READ, {"revision": revision})).first()
    return None if row is None else RecordedRelease(row.release, row.oldest_compatible_release)
