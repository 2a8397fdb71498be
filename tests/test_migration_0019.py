"""Migration 0019: status_history and outbox_events become partitioned by month with the old
table attached as a partition (no copy: its storage is the same file), while writers of the
previous release go on; a re-run after an interruption completes it; the downgrade copies back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import asyncpg

from expsvc.migrate import downgrade, upgrade
from expsvc.partition.service import month_start
from tests.conftest import runtime_url
from tests.partition.support import model_differences, partitions, relfilenodes, sql

TABLES = ("status_history", "outbox_events")
# The previous release's bookkeeping of one change (ids from the table, as it writes them).
_OLD_RELEASE_WRITE = """
WITH h AS (
  INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor, source)
  VALUES ('run', $1, 'draft', 'running', 'writer', 'user') RETURNING id
)
INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)
SELECT gen_random_uuid(), 'run.started', 'run', $1, now(), '{}' FROM h RETURNING id
"""
_OLD_RELEASE_READ = (
    "SELECT id FROM status_history WHERE entity_type = 'run' AND entity_id = $1 ORDER BY id DESC"
)


def test_the_models_match_the_partitioned_schema(database_url: str) -> None:
    assert model_differences(database_url, TABLES) == []
    for table in TABLES:
        names = asyncio.run(partitions(database_url, table))
        assert f"{table}_legacy" in names
        assert len(names) >= 3  # the legacy partition and two months after its bound


def test_the_previous_release_writes_and_reads_throughout_the_conversion(
    database_url: str,
) -> None:
    downgrade(database_url, "0018")
    before = asyncio.run(relfilenodes(database_url, TABLES))
    written, during, slowest, errors = asyncio.run(_write_while_upgrading(database_url))

    print(f"[0019] {during} writes during the conversion, slowest {slowest * 1000:.0f} ms")
    assert errors == []
    assert during >= 10  # they did overlap the conversion
    assert slowest < 2.0, f"a write waited {slowest:.2f}s"  # queued behind the swap only briefly
    after = asyncio.run(relfilenodes(database_url, TABLES))
    for table in TABLES:
        # The legacy partition is the old table itself: not copied, not rewritten.
        assert after[f"{table}_legacy"] == before[table]
    counts = asyncio.run(
        sql(
            database_url,
            "SELECT (SELECT count(DISTINCT id) FROM status_history) AS history,"
            " (SELECT count(DISTINCT id) FROM outbox_events) AS events",
        )
    )[0]
    assert (counts["history"], counts["events"]) == (written, written)
    assert model_differences(database_url, TABLES) == []


async def _write_while_upgrading(url: str) -> tuple[int, int, float, list[str]]:
    """Writes (and reads) as the previous release does, on one connection with its statement
    cache, during and after ``upgrade``: how many, how many while it ran, the slowest, errors."""
    connection = await asyncpg.connect(url)
    entity = "0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091"
    written, during, slowest, errors = 0, 0, 0.0, []
    upgrading = asyncio.create_task(asyncio.to_thread(upgrade, url))
    try:
        while True:
            done = upgrading.done()
            started = time.monotonic()
            try:
                async with connection.transaction():
                    await connection.fetch(_OLD_RELEASE_WRITE, entity)
                written += 1
                during += not done
                await connection.fetch(_OLD_RELEASE_READ, entity)
            except asyncpg.PostgresError as error:
                errors.append(repr(error))
            slowest = max(slowest, time.monotonic() - started)
            if done and written >= 50:
                break
            await asyncio.sleep(0.002)
        await upgrading
    finally:
        await connection.close()
    return written, during, slowest, errors


def test_a_rerun_after_an_interruption_completes(database_url: str) -> None:
    """Interrupted after the bound check was added and with an index build left INVALID."""
    downgrade(database_url, "0018")

    async def interrupt() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            # As the migration writes it; its bound (two months on here) becomes the legacy's.
            await connection.execute(
                "ALTER TABLE status_history ADD CONSTRAINT status_history_legacy_bound"
                f" CHECK (created_at < '{bound.isoformat()}') NOT VALID"
            )
            await connection.execute(
                "INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at,"
                " data) SELECT gen_random_uuid(), 'twice', 'run', gen_random_uuid(), now(),"
                " '{}' FROM generate_series(1, 2)"
            )
            # A unique build over duplicate values fails and leaves an INVALID index.
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await connection.execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY outbox_events_legacy_seq"
                    " ON outbox_events (type)"
                )
        finally:
            await connection.close()

    bound = month_start(datetime.now(UTC), 2)
    asyncio.run(interrupt())
    upgrade(database_url)
    assert asyncio.run(partitions(database_url, "status_history"))["status_history_legacy"] == bound
    assert model_differences(database_url, TABLES) == []
    rows = asyncio.run(sql(database_url, "SELECT count(*) FROM outbox_events WHERE type = 'twice'"))
    assert rows[0]["count"] == 2
    valid = asyncio.run(
        sql(
            database_url,
            "SELECT indisvalid, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
            " WHERE indexrelid = 'outbox_events_legacy_seq'::regclass",
        )
    )
    assert valid[0]["indisvalid"]
    assert valid[0]["definition"].endswith("(seq)")


def test_the_downgrade_copies_the_rows_back_into_plain_tables(database_url: str) -> None:
    asyncio.run(
        sql(
            database_url,
            "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
            " source) VALUES ('run', gen_random_uuid(), 'draft', 'running', 't', 'user')",
        )
    )
    downgrade(database_url, "0018")
    kinds = asyncio.run(
        sql(
            database_url,
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY($1::text[])",
            list(TABLES),
        )
    )
    assert {row["relname"]: row["relkind"] for row in kinds} == dict.fromkeys(TABLES, "r")
    rows = asyncio.run(
        sql(
            database_url,
            "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
            " source) VALUES ('run', gen_random_uuid(), 'draft', 'running', 't', 'user')"
            " RETURNING id",
        )
    )
    assert rows[0]["id"] == 2  # the identity continues after the copied rows
    asyncio.run(_runtime_role_writes(database_url))  # its grants were copied back too
    upgrade(database_url)
    assert model_differences(database_url, TABLES) == []
    asyncio.run(_runtime_role_writes(database_url))
    counted = asyncio.run(sql(database_url, "SELECT count(*) FROM status_history"))
    assert counted[0]["count"] == 4


async def _runtime_role_writes(url: str) -> None:
    """The service's role writes and reads both tables (the ids from their sequences)."""
    runtime = runtime_url(url)
    await sql(runtime, _OLD_RELEASE_WRITE, "0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8092")
    await sql(runtime, "SELECT count(*) FROM status_history, outbox_events")
