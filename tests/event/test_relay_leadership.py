"""The relays' leadership of the sinks, in one process: relays that share the sinks, one that
cannot join yet, a publisher that dies, a balancing query that fails, a sink held by another
relay, and the handover of a stuck sink. Every relay has a Database (and so a LISTEN connection
and advisory-lock session) of its own, as a process would; the sinks are small ones of the test
(and Redis), the database is the real one."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.db import Database, create_engine
from expsvc.event.metrics import RelayMetrics
from expsvc.event.relay import RELAYS_LOCK_ID, OutboxRelay, sink_lock_id
from expsvc.event.sinks import AnySink
from expsvc.event.sinks.redis import RedisStreamSink
from tests.conftest import make_settings, runtime_url
from tests.event.support import insert_events, outbox_event_ids, read_stream, redis_client

STANDBY = 0.2  # a relay looks at its share every 0.1-0.2 s
DEADLINE = 15.0

# --- sinks of the test ------------------------------------------------------------------------


@dataclass
class RecordingSink:
    """Records the ids it publishes in ``published`` (shared by the sinks of one name in every
    relay); with ``gate``, its publish waits for the gate (a stuck sink)."""

    name: str
    published: list[str] = field(default_factory=list)
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        self.entered.set()
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        self.published += [event["id"] for event in events]

    async def close(self) -> None:
        pass


class SinkDied(Exception):
    pass


@dataclass
class DyingSink:
    """A sink kept in our database (as the webhook sink is) whose ``quiet_for``, outside the
    publisher's retry, fails once it has published a batch: its publisher task dies."""

    name: str
    published: list[str] = field(default_factory=list)
    closed: bool = False

    async def publish_in(self, session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
        self.published += [event["id"] for event in events]

    def quiet_for(self) -> float:
        if self.published:
            raise SinkDied(f"{self.name} is gone")
        return 0.0

    async def close(self) -> None:
        self.closed = True


# --- relays -----------------------------------------------------------------------------------


@dataclass
class Relay:
    relay: OutboxRelay
    registry: CollectorRegistry

    def leading(self) -> float:
        return self.registry.get_sample_value("expsvc_outbox_relay_leading") or 0.0


@contextlib.asynccontextmanager
async def relay_of_its_own(
    database_url: str, sinks: Sequence[AnySink], fallback_interval: float = 0.3
) -> AsyncIterator[Relay]:
    """A relay as one process has it: its own engine and LISTEN connection, as the runtime
    role."""
    settings = make_settings(database_url)
    database = Database(create_engine(settings, runtime_url(database_url)))
    registry = CollectorRegistry()
    relay = OutboxRelay(
        database,
        sinks,
        RelayMetrics(registry),
        source="/tests/relay-leadership",
        fallback_interval=fallback_interval,
        poll_interval=(0.01, 0.05),
        standby_interval=STANDBY,
    )
    try:
        yield Relay(relay, registry)
    finally:
        await database.dispose()


@contextlib.asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[asyncio.Task[None]]:
    """``relay.run()`` as a task, cancelled on exit (an error it ended with is raised)."""
    task = asyncio.create_task(relay.relay.run(), name="test-relay")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own (a superuser's), as another process or an operator."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def until(check: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; fail after DEADLINE seconds."""
    stop = time.monotonic() + DEADLINE
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert time.monotonic() < stop, f"never happened: {what}"
        await asyncio.sleep(0.02)


async def leader_pids(connection: asyncpg.Connection, sink: str) -> list[int]:
    """The sessions holding ``sink``'s leader lock."""
    rows = await connection.fetch(
        """
        SELECT pid FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND (classid::bigint << 32 | objid::bigint) = $1
        """,
        sink_lock_id(sink),
    )
    return [row["pid"] for row in rows]


async def advisory_locks(connection: asyncpg.Connection) -> int:
    """Advisory locks held in the test's database."""
    return int(
        await connection.fetchval(
            """
            SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """
        )
    )


async def has_finished(
    connection: asyncpg.Connection, statement: str, since: datetime | None = None
) -> bool:
    """Whether a session's last statement, finished (it is idle), was ``statement`` (started
    after ``since``): how the test sees what a relay's LISTEN connection has done."""
    return bool(
        await connection.fetchval(
            """
            SELECT count(*) > 0 FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND state = 'idle' AND query = $1
              AND ($2::timestamptz IS NULL OR query_start > $2)
            """,
            statement,
            since,
        )
    )


async def stream_length(redis: aioredis.Redis, stream: str, at_least: int) -> bool:
    return int(await redis.xlen(stream)) >= at_least


def exactly_once(published: Sequence[str], expected: Sequence[str]) -> None:
    duplicated = {event for event, count in Counter(published).items() if count > 1}
    assert not duplicated, f"{len(duplicated)} events published more than once"
    assert set(published) == set(expected), f"{len(published)} of {len(expected)} published"


# --- tests ------------------------------------------------------------------------------------


async def test_two_relays_lead_one_sink_each_and_publish_every_event_once(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    memory: list[str] = []

    def sinks() -> list[AnySink]:
        return [RedisStreamSink(redis_url, redis_stream, 10_000), RecordingSink("memory", memory)]

    await insert_events(database_url, 200)
    async with (
        relay_of_its_own(database_url, sinks(), fallback_interval=5.0) as first,
        relay_of_its_own(database_url, sinks(), fallback_interval=5.0) as second,
        redis_client(redis_url) as redis,
        admin(database_url) as connection,
    ):
        async with running(first):
            await until(lambda: first.leading() == 2, "the only relay leads both sinks")
            await until(lambda: len(memory) == 200, "the first events are published")
            async with running(second):
                await until(
                    lambda: first.leading() == 1 and second.leading() == 1,
                    "the first relay hands a sink over to the second",
                )
                leaders = [await leader_pids(connection, sink) for sink in ("redis", "memory")]
                assert all(len(pids) == 1 for pids in leaders), leaders
                assert leaders[0] != leaders[1]  # two sessions: one sink each
                await insert_events(database_url, 300)
                await until(lambda: len(memory) >= 500, "the later events are published")
                await until(
                    lambda: stream_length(redis, redis_stream, 500),
                    "the later events reach Redis",
                )
        expected = await outbox_event_ids(database_url)
        assert len(expected) == 500
        exactly_once(memory, expected)
        exactly_once(
            [fields["id"] for _, fields in await read_stream(redis, redis_stream)], expected
        )


async def test_a_relay_that_cannot_join_stands_by_and_joins_when_it_can(
    database_url: str,
) -> None:
    sink = RecordingSink("memory")
    await insert_events(database_url, 20)
    async with (
        admin(database_url) as connection,
        relay_of_its_own(database_url, [sink]) as relay,
    ):
        # Held exclusively, the relays' lock cannot be taken in share mode: the relay can't join.
        await connection.execute("SELECT pg_advisory_lock($1)", RELAYS_LOCK_ID)
        async with running(relay):
            await until(
                lambda: has_finished(connection, "SELECT pg_try_advisory_lock_shared($1)"),
                "the relay tried to join",
            )
            assert relay.leading() == 0
            assert await leader_pids(connection, "memory") == []
            unsequenced = "SELECT count(*) FROM outbox_events WHERE seq IS NULL"
            assert await connection.fetchval(unsequenced) == 20  # not even sequencing
            assert sink.published == []
            await connection.execute("SELECT pg_advisory_unlock($1)", RELAYS_LOCK_ID)
            await until(lambda: len(sink.published) == 20, "the relay joined and published")
            await until(lambda: relay.leading() == 1, "the relay leads the sink")
        exactly_once(sink.published, await outbox_event_ids(database_url))


async def test_a_publisher_that_dies_ends_the_run_with_its_error(database_url: str) -> None:
    sink = DyingSink("dying")
    await insert_events(database_url, 5)
    async with (
        admin(database_url) as connection,
        relay_of_its_own(database_url, [sink]) as relay,
    ):
        with pytest.raises(SinkDied, match="dying is gone"):
            async with asyncio.timeout(DEADLINE):
                await relay.relay.run()
        exactly_once(sink.published, await outbox_event_ids(database_url))
        # It let go of everything: the sink's leadership and its place among the relays.
        assert await advisory_locks(connection) == 0
        assert relay.leading() == 0
        assert sink.closed


@dataclass
class CancelledSink:
    """A sink whose library raises CancelledError on its own (nobody cancelled the publisher)."""

    name: str

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        raise asyncio.CancelledError

    async def close(self) -> None:
        pass


async def test_a_publisher_that_ends_cancelled_unasked_ends_the_run_with_an_error(
    database_url: str,
) -> None:
    """Not a CancelledError out of ``run()``: the runtime restarts a relay whose run raised an
    error, and a CancelledError would end its loop unseen."""
    await insert_events(database_url, 3)
    async with (
        admin(database_url) as connection,
        relay_of_its_own(database_url, [CancelledSink("cancelling")]) as relay,
    ):
        with pytest.raises(RuntimeError, match="the publisher of cancelling stopped"):
            async with asyncio.timeout(DEADLINE):
                await relay.relay.run()
        assert await advisory_locks(connection) == 0
        assert relay.leading() == 0


async def test_a_relay_whose_balancing_query_fails_logs_it_and_keeps_leading(
    database_url: str,
) -> None:
    sink = RecordingSink("memory")
    await insert_events(database_url, 10)
    with structlog.testing.capture_logs() as logs:
        async with (
            admin(database_url) as connection,
            relay_of_its_own(database_url, [sink]) as relay,
            running(relay),
        ):
            await until(lambda: len(sink.published) == 10, "the relay leads and publishes")
            # The relays are counted in pg_locks; the runtime role may no longer read it (in
            # this test's database only).
            await connection.execute("REVOKE SELECT ON pg_catalog.pg_locks FROM PUBLIC")
            await until(
                lambda: len([log for log in logs if log["event"] == "relay balancing failed"]) >= 2,
                "balancing failed twice (the loop goes on)",
            )
            failed = [log for log in logs if log["event"] == "relay balancing failed"]
            assert "pg_locks" in failed[0]["error"], failed[0]
            assert failed[0]["log_level"] == "warning"
            await insert_events(database_url, 10)
            await until(lambda: len(sink.published) == 20, "it still publishes")
            assert relay.leading() == 1
            assert len(await leader_pids(connection, "memory")) == 1
            await connection.execute("GRANT SELECT ON pg_catalog.pg_locks TO PUBLIC")
    exactly_once(sink.published, await outbox_event_ids(database_url))


async def test_a_sink_whose_leader_lock_another_relay_holds_is_left_to_it(
    database_url: str,
) -> None:
    alpha, beta = RecordingSink("alpha"), RecordingSink("beta")
    await insert_events(database_url, 30)
    async with (
        admin(database_url) as connection,
        relay_of_its_own(database_url, [alpha, beta]) as relay,
    ):
        await connection.execute("SELECT pg_advisory_lock($1)", sink_lock_id("beta"))
        async with running(relay):
            await until(lambda: relay.leading() == 1, "the relay leads the free sink")
            balanced = await connection.fetchval("SELECT clock_timestamp()")
            # Below its share (two), each later look tries beta again (and passes alpha by).
            await until(
                lambda: has_finished(connection, "SELECT pg_try_advisory_lock($1)", balanced),
                "the relay looked again",
            )
            await until(lambda: len(alpha.published) == 30, "alpha is published")
            assert beta.published == []
            assert relay.leading() == 1
            await connection.execute("SELECT pg_advisory_unlock($1)", sink_lock_id("beta"))
            await until(lambda: relay.leading() == 2, "the relay takes beta once it is free")
            await until(lambda: len(beta.published) == 30, "beta is published")
        expected = await outbox_event_ids(database_url)
        exactly_once(alpha.published, expected)
        exactly_once(beta.published, expected)


async def test_publishing_yields_while_another_relay_holds_the_sinks_cursor(
    database_url: str,
) -> None:
    sink = RecordingSink("memory")
    await insert_events(database_url, 7)
    async with (
        admin(database_url) as connection,
        relay_of_its_own(database_url, [sink]) as process,
    ):
        relay = process.relay
        assert await relay.sequence_once() == 7
        await connection.execute("INSERT INTO event_sink_cursors (sink) VALUES ('memory')")
        lock_cursor = "SELECT 1 FROM event_sink_cursors WHERE sink = 'memory' FOR UPDATE"
        # Another relay's batch in flight holds the cursor row (its transaction is open).
        async with connection.transaction():
            await connection.execute(lock_cursor)
            assert await relay.publish_once(sink) == 0
            assert sink.published == []
        assert await relay.publish_once(sink) == 7
        await insert_events(database_url, 3)
        assert await relay.sequence_once() == 3
        async with connection.transaction():  # again, now that the relay knows the cursor
            await connection.execute(lock_cursor)
            assert await relay.publish_once(sink) == 0
        assert await relay.publish_once(sink) == 3
        assert (
            await connection.fetchval(
                "SELECT published FROM event_sink_cursors WHERE sink = 'memory'"
            )
            == 10
        )
    exactly_once(sink.published, await outbox_event_ids(database_url))


async def test_handing_a_stuck_sink_over_cancels_its_publisher_and_the_other_relay_takes_it(
    database_url: str,
) -> None:
    never = asyncio.Event()  # the first relay's sinks never finish a publish
    published: dict[str, list[str]] = {"alpha": [], "beta": []}
    stuck = [RecordingSink(name, published[name], gate=never) for name in published]
    healthy = [RecordingSink(name, published[name]) for name in published]
    await insert_events(database_url, 40)
    with structlog.testing.capture_logs() as logs:
        async with (
            relay_of_its_own(database_url, stuck, fallback_interval=0.3) as first,
            relay_of_its_own(database_url, healthy) as second,
            running(first),
        ):
            await until(
                lambda: all(sink.entered.is_set() for sink in stuck),
                "the only relay leads both sinks, and is stuck publishing to each",
            )
            async with running(second):
                await until(
                    lambda: any(sink.cancelled for sink in stuck),
                    "the first relay hands a stuck sink over: its publisher is cancelled",
                )
                (handed,) = [sink.name for sink in stuck if sink.cancelled]
                (kept,) = [sink.name for sink in stuck if not sink.cancelled]
                await until(lambda: len(published[handed]) == 40, "the second relay takes it")
                await until(lambda: first.leading() == 1 and second.leading() == 1, "one sink each")
                assert published[kept] == []  # still stuck with the first relay
    handovers = [log for log in logs if log["event"] == "relay handed a sink over"]
    assert [log["sink"] for log in handovers] == [handed]
    exactly_once(published[handed], await outbox_event_ids(database_url))
