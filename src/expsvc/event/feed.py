"""Reading the event log (the HTTP feed) and waking live streams when it grows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog

from expsvc.db import Database, plain_database_url
from expsvc.errors import ProblemError
from expsvc.event.envelope import cloudevent
from expsvc.event.relay import EVENTS_CHANNEL
from expsvc.event.repository import OutboxRepository

_log = structlog.get_logger("expsvc.feed")


class CursorExpired(ProblemError):
    slug, title, status = "cursor-expired", "Event cursor expired", 410


async def read_feed(
    database: Database, source: str, after: int, limit: int, types: Sequence[str]
) -> tuple[list[dict[str, Any]], int]:
    """Events after ``after`` (oldest first) and the cursor to continue from."""
    async with database.sessionmaker() as session:
        outbox = OutboxRepository(session)
        rows = await outbox.read_after(after, limit, types)
        if after > 0 and (not rows or rows[0].seq > after + 1):
            oldest = await outbox.oldest_seq()
            if oldest is not None and oldest > after + 1:
                raise CursorExpired(
                    f"events after {after} are past retention; the oldest kept is {oldest}",
                    oldest_cursor=str(oldest - 1),
                )
    events = [cloudevent(row, source) for row in rows]
    return events, rows[-1].seq if rows else after


class FeedNotifier:
    """One LISTEN connection per process; live streams wait on it instead of polling."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def token(self) -> asyncio.Event:
        """Take before reading the log: ``wait(at_most, token)`` then returns at once if the log
        grew meanwhile, so a notification between the read and the wait is not lost."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="feed-listener")
        return self._changed

    async def wait(self, at_most: float, token: asyncio.Event | None = None) -> None:
        """Return when the log grows (or after ``at_most`` seconds)."""
        event = self.token() if token is None else token
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: see WebhookDeliverer._sleep
            async with asyncio.timeout(at_most):
                await event.wait()

    def _notify(self, *_: Any) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _listen_forever(self) -> None:
        while True:
            lost = asyncio.Event()
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(plain_database_url(self.database.engine.url))
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(EVENTS_CHANNEL, self._notify)
                self._notify()
                await lost.wait()
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                _log.warning("feed cannot LISTEN; streams poll meanwhile", error=repr(error))
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(2.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
