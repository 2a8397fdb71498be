"""Reading the event log (the HTTP feed) and waking live streams when it grows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from expsvc.auth.principal import Principal
from expsvc.db import Database
from expsvc.errors import ProblemError
from expsvc.event.envelope import cloudevent
from expsvc.event.relay import EVENTS_CHANNEL
from expsvc.event.repository import OutboxRepository


class CursorExpired(ProblemError):
    slug, title, status = "cursor-expired", "Event cursor expired", 410


async def read_feed(
    database: Database,
    source: str,
    after: int,
    limit: int,
    types: Sequence[str],
    principal: Principal,
) -> tuple[list[dict[str, Any]], int]:
    """Events after ``after`` (oldest first) of what ``principal`` may read, and the cursor to
    continue from."""
    async with database.sessionmaker() as session:
        outbox = OutboxRepository(session)
        rows = await outbox.read_after(after, limit, types, principal)
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
    """Live streams wait on the process's LISTEN connection instead of polling."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._changed = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def token(self) -> asyncio.Event:
        """Take before reading the log: ``wait(at_most, token)`` then returns at once if the log
        grew meanwhile, so a notification between the read and the wait is not lost."""
        if self._unsubscribe is None:  # the first live stream subscribes, for good
            self._unsubscribe = self.database.listener.subscribe(EVENTS_CHANNEL, self._notify)
        return self._changed

    async def wait(self, at_most: float, token: asyncio.Event | None = None) -> None:
        """Return when the log grows (or after ``at_most`` seconds)."""
        event = self.token() if token is None else token
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: see WebhookDeliverer._sleep
            async with asyncio.timeout(at_most):
                await event.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
