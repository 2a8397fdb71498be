"""One LISTEN connection per process, shared by everything that waits for a notification.

The outbox relay, the live event feed and the webhook deliverer each used to keep a connection
of their own; every commit with events then woke three sockets in every process. They now
subscribe here: one asyncpg connection LISTENs to the union of their channels and calls each
subscriber's callback (plain functions, called on the event loop; they only set events).

The connection also carries the session advisory locks of the relays' leadership (a shared
one per relay, by which the relays count each other, and an exclusive one per sink it publishes
to): such a lock lives exactly as long as the connection, so a process that dies or loses its
connection gives up its leadership with it, and another process takes over.

A subscriber's callback is also called whenever its channel starts being listened to (after a
connect or reconnect, or a new subscription): what was notified while nobody listened is unknown,
so the subscriber looks for itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from expsvc.observability.tracing import background

_log = structlog.get_logger("expsvc.listen")

Callback = Callable[[], None]
_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
_TRY_LOCK = {
    False: "SELECT pg_try_advisory_lock($1)",
    True: "SELECT pg_try_advisory_lock_shared($1)",
}
_UNLOCK = {False: "SELECT pg_advisory_unlock($1)", True: "SELECT pg_advisory_unlock_shared($1)"}


class Listener:
    """Started by the first subscription or lock attempt; stopped by :meth:`close`."""

    def __init__(self, dsn: str, *, connect_timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._callbacks: dict[str, list[Callback]] = {}
        self._listening: set[str] = set()
        self._changed = asyncio.Event()  # subscriptions changed, or the connection was lost
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()  # of the current connection; replaced on each connect
        self._connection: asyncpg.Connection | None = None
        self._generation = 0  # counts connections: a lock is held while its generation lasts
        self._held: set[int] = set()  # advisory lock keys held by this process's connection
        self._operation = asyncio.Lock()  # one statement at a time on the connection
        self._task: asyncio.Task[None] | None = None

    # --- subscriptions ------------------------------------------------------------------------

    def subscribe(self, channel: str, callback: Callback) -> Callback:
        """Call ``callback`` on every notification on ``channel``; returns the unsubscribe."""
        self._callbacks.setdefault(channel, []).append(callback)
        self._changed.set()
        self._start()

        def unsubscribe() -> None:
            callbacks = self._callbacks.get(channel, [])
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)
            if not callbacks:
                self._callbacks.pop(channel, None)
            self._changed.set()

        return unsubscribe

    def _dispatch(self, _: Any, __: int, channel: str, ___: str) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            callback()

    # --- leadership ---------------------------------------------------------------------------

    async def try_lock(
        self, key: int, wait_for_connection: float = 5.0, *, shared: bool = False
    ) -> int | None:
        """Take the session advisory lock ``key`` on the listening connection (in share mode
        with ``shared``: any number of sessions hold it at once, and count each other).

        Returns the connection's generation while this process holds the lock (see
        :meth:`lost`), or None: another session holds it, this process already does (two
        holders in one process would share one session's lock), or there is no connection.
        """
        self._start()
        if key in self._held:
            return None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_for_connection):
                await self._connected.wait()
        async with self._operation:
            connection, generation = self._connection, self._generation
            if connection is None or connection.is_closed():
                return None
            try:
                locked = await connection.fetchval(_TRY_LOCK[shared], key)
            except _CONNECT_ERRORS as error:
                _log.warning("advisory lock attempt failed", error=repr(error))
                return None
        if not locked:
            return None
        self._held.add(key)
        return generation

    def lost(self, generation: int) -> asyncio.Event:
        """Set once the connection of ``generation`` is gone (and with it its locks)."""
        if generation != self._generation or self._connection is None:
            gone = asyncio.Event()
            gone.set()
            return gone
        return self._lost

    async def unlock(self, key: int, generation: int, *, shared: bool = False) -> None:
        """Give the lock up (if its connection still lives); best effort."""
        self._held.discard(key)
        async with self._operation:
            connection = self._connection
            if connection is None or generation != self._generation or connection.is_closed():
                return
            with contextlib.suppress(*_CONNECT_ERRORS):
                await connection.fetchval(_UNLOCK[shared], key)

    # --- the connection -----------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None:
            # Started by whichever request or job first listens; it serves them all.
            with background():
                self._task = asyncio.create_task(self._run(), name="listener")

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._serve_one_connection()
                failures = 0
            except _CONNECT_ERRORS as error:
                failures += 1
                _log.warning("cannot LISTEN; waiters poll meanwhile", error=repr(error))
            except Exception:  # never let the process's one listener die for good
                failures += 1
                _log.exception("LISTEN connection failed unexpectedly; reconnecting")
            await asyncio.sleep(min(30.0, 0.5 * 2**failures))

    async def _serve_one_connection(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=self._connect_timeout
        )
        lost = asyncio.Event()

        def on_termination(_: object) -> None:
            lost.set()
            self._changed.set()

        connection.add_termination_listener(on_termination)
        self._listening = set()
        self._held = set()
        self._lost = lost
        self._generation += 1
        self._connection = connection
        self._connected.set()
        try:
            while not lost.is_set():
                self._changed.clear()
                await self._listen_to_subscribed(connection)
                await self._changed.wait()
        finally:
            self._connected.clear()
            self._connection = None
            self._held = set()
            lost.set()
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def _listen_to_subscribed(self, connection: asyncpg.Connection) -> None:
        """LISTEN to new channels and UNLISTEN to abandoned ones; wake new channels' waiters."""
        wanted = set(self._callbacks)
        added = wanted - self._listening
        async with self._operation:
            for channel in added:
                await connection.add_listener(channel, self._dispatch)
            for channel in self._listening - wanted:
                await connection.remove_listener(channel, self._dispatch)
        self._listening = wanted
        for channel in added:
            for callback in list(self._callbacks.get(channel, ())):
                callback()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
