"""The relay killed after publishing a batch and before committing its cursor: the batch is
published again by the next relay (at least once), and exactly that batch is duplicated.

Deterministic: a deferred constraint trigger, installed by the test on the sink cursor's row of
the Redis sink, makes the relay's commit wait for an advisory lock the test holds. The relay
has then published the batch to Redis and waits inside COMMIT; the test SIGKILLs ``expsvc
worker`` and PostgreSQL drops the session (``client_connection_check_interval``) with its
uncommitted cursor. A fresh worker publishes from the old cursor.

How it can fail: an at-most-once relay (cursor committed before publishing) publishes the
batch once and loses it when killed there: ``duplicated`` is 0 and events are missing; a relay
that skips the batch on restart loses it too.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg
import pytest

from tests.chaos.conftest import report
from tests.conftest import runtime_url
from tests.event.support import create_experiments, outbox_event_ids, read_stream, redis_client
from tests.event.test_reliability import start_worker, wait_for_ids

__all__ = ["start_worker"]  # the fixture, used by name

pytestmark = [pytest.mark.chaos, pytest.mark.process]

BATCH = 50
TOTAL = 120
HOLD = 0x6368_616F_7331  # the advisory lock the trigger waits for

_INSTALL = f"""
CREATE FUNCTION chaos_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({HOLD});
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER chaos_hold_commit AFTER UPDATE ON event_sink_cursors
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.sink = 'redis')
    EXECUTE FUNCTION chaos_hold_commit();
"""


async def waiting_on_hold(connection: asyncpg.Connection) -> int:
    return int(
        await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND (classid::bigint << 32 | objid::bigint) = $1",
            HOLD,
        )
    )


async def test_relay_killed_between_publish_and_cursor_commit_republishes_the_batch(
    database_url: str,
    redis_url: str,
    redis_stream: str,
    start_worker: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        await admin.execute(_INSTALL)
        name = await admin.fetchval("SELECT current_database()")
        await admin.execute(f'ALTER DATABASE "{name}" SET client_connection_check_interval = 100')
        await create_experiments(database_url, TOTAL)
        ids = await outbox_event_ids(database_url)
        await admin.execute("SELECT pg_advisory_lock($1)", HOLD)  # session lock: commits wait
        batch = {"EXPSVC_RELAY_BATCH_SIZE": str(BATCH)}
        url = runtime_url(database_url)
        first = start_worker(url, redis_url, redis_stream, **batch)
        async with redis_client(redis_url) as redis:
            until = time.monotonic() + 30
            while await waiting_on_hold(admin) == 0 or await redis.xlen(redis_stream) < BATCH:
                assert time.monotonic() < until, first.output()
                await asyncio.sleep(0.01)
            published_before_kill = await redis.xlen(redis_stream)
            first.kill9()
            until = time.monotonic() + 30
            while await waiting_on_hold(admin):  # its session is gone, the cursor not moved
                assert time.monotonic() < until, "the killed relay's session lingers"
                await asyncio.sleep(0.02)
            await admin.execute("DROP TRIGGER chaos_hold_commit ON event_sink_cursors")
            await admin.execute("SELECT pg_advisory_unlock($1)", HOLD)
            start_worker(url, redis_url, redis_stream, **batch)
            entries = await wait_for_ids(redis_url, redis_stream, set(ids))
            entries = await read_stream(redis, redis_stream)
    finally:
        await admin.close()

    counts = Counter(fields["id"] for _, fields in entries)
    duplicated = sorted(event for event, count in counts.items() if count > 1)
    report(
        capsys,
        "relay killed before its cursor commit",
        events=TOTAL,
        published_before_kill=published_before_kill,
        entries=len(entries),
        duplicated=len(duplicated),
        lost=len(set(ids) - set(counts)),
    )
    assert published_before_kill == BATCH
    assert set(counts) == set(ids)
    assert duplicated == sorted(ids[:BATCH])  # exactly the batch published before the kill
    assert max(counts.values()) == 2
