"""The process's one LISTEN connection: notifications, reconnects, and the leader's lock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from expsvc.listen import Listener

LOCK = 424242


@pytest.fixture
async def listeners(database_url: str) -> AsyncIterator[list[Listener]]:
    """Two listeners on the test database, as two processes would have."""
    made = [Listener(database_url), Listener(database_url)]
    yield made
    for listener in made:
        await listener.close()


async def notify(database_url: str, channel: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("SELECT pg_notify($1, '')", channel)
    finally:
        await connection.close()


async def terminate_listening_backends(database_url: str, channel_holder_pid: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", channel_holder_pid)
    finally:
        await connection.close()


async def wait_for(event: asyncio.Event, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        await event.wait()


def backend_pid(listener: Listener) -> int:
    connection = listener._connection
    assert connection is not None, "not connected"
    return connection.get_server_pid()


async def test_subscribers_are_woken_on_listen_by_notifications_and_after_a_reconnect(
    database_url: str, listeners: list[Listener]
) -> None:
    listener = listeners[0]
    calls: dict[str, int] = {"a": 0, "b": 0}
    woken = {"a": asyncio.Event(), "b": asyncio.Event()}

    def callback(name: str) -> None:
        calls[name] += 1
        woken[name].set()

    listener.subscribe("expsvc_test_a", lambda: callback("a"))
    await wait_for(woken["a"])  # the first LISTEN wakes the subscriber: it may have missed some
    assert calls == {"a": 1, "b": 0}

    woken["a"].clear()
    await notify(database_url, "expsvc_test_a")
    await notify(database_url, "expsvc_test_b")  # nobody subscribed: nothing called
    await wait_for(woken["a"])
    assert calls == {"a": 2, "b": 0}

    # A channel subscribed to later is listened to on the same connection.
    pid = backend_pid(listener)
    unsubscribe_b = listener.subscribe("expsvc_test_b", lambda: callback("b"))
    await wait_for(woken["b"])
    woken["b"].clear()
    await notify(database_url, "expsvc_test_b")
    await wait_for(woken["b"])
    assert backend_pid(listener) == pid
    assert calls == {"a": 2, "b": 2}

    # The database drops the connection: the listener reconnects and wakes every subscriber.
    woken["a"].clear()
    await terminate_listening_backends(database_url, pid)
    await wait_for(woken["a"])
    assert backend_pid(listener) != pid
    assert calls["a"] == 3

    # Unsubscribed: no more calls for b.
    unsubscribe_b()
    await asyncio.sleep(0.2)  # the listener UNLISTENs
    before = dict(calls)
    woken["a"].clear()
    await notify(database_url, "expsvc_test_b")
    await notify(database_url, "expsvc_test_a")
    await wait_for(woken["a"])
    assert calls == {"a": before["a"] + 1, "b": before["b"]}


async def test_one_process_holds_the_lock_until_its_connection_is_lost(
    database_url: str, listeners: list[Listener]
) -> None:
    first, second = listeners
    generation = await first.try_lock(LOCK)
    assert generation is not None
    assert await first.try_lock(LOCK) is None  # one holder per process, not a stacked lock
    assert await second.try_lock(LOCK) is None  # another process stands by
    lost = first.lost(generation)
    assert not lost.is_set()

    await terminate_listening_backends(database_url, backend_pid(first))
    await wait_for(lost)  # the holder learns that its lock went with its connection
    started = time.monotonic()
    while (taken := await second.try_lock(LOCK)) is None:
        assert time.monotonic() - started < 10, "the lock was never released"
        await asyncio.sleep(0.05)
    assert second.lost(taken).is_set() is False
    # The first process, reconnected, stands by now.
    assert await first.try_lock(LOCK) is None


async def test_unlock_hands_the_lock_over_at_once(listeners: list[Listener]) -> None:
    first, second = listeners
    generation = await first.try_lock(LOCK)
    assert generation is not None
    assert await second.try_lock(LOCK) is None
    await first.unlock(LOCK, generation)
    assert await second.try_lock(LOCK) is not None
    assert await first.try_lock(LOCK) is None


async def test_no_database_means_no_lock_and_no_crash() -> None:
    listener = Listener("postgresql://postgres@127.0.0.1:1/nowhere", connect_timeout=0.5)
    try:
        assert await listener.try_lock(LOCK, wait_for_connection=0.5) is None
    finally:
        await listener.close()
