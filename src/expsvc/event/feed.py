"""Reading the event log (the HTTP feed) and waking live streams when it grows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from expsvc.auth.principal import Principal
from expsvc.db import Database
from expsvc.errors import ProblemError
from expsvc.event.envelope import cloudevent
from expsvc.event.relay import EVENTS_CHANNEL
from expsvc.event.repository import OutboxRepository
from expsvc.event.schemas import FeedFilter
from expsvc.event.versions import EventVersions, VersionChoice


class CursorExpired(ProblemError):
    slug, title, status = "cursor-expired", "Event cursor expired", 410


async def read_feed(
    database: Database,
    source: str,
    after: int,
    limit: int,
    scan: int,
    where: FeedFilter,
    principal: Principal,
    versions: EventVersions,
    choice: VersionChoice = "all",
) -> tuple[list[dict[str, Any]], int]:
    """Events after ``after`` (oldest first) that match ``where``, of what ``principal`` may
    read, and the cursor to continue from.

    At most ``scan`` events are examined. The cursor moves past every one of them, matched or
    not: a short (or empty) page ends at how far the read got, so the next read does not examine
    them again; a full page ends at its last event. ``limit`` counts log positions: each may
    give one envelope per data version still published (``choice`` narrows them)."""
    async with database.sessionmaker() as session:
        window = await OutboxRepository(session).read_window(after, limit, scan, where, principal)
    if after > 0 and window.oldest is not None and window.oldest > after + 1:
        raise CursorExpired(
            f"events after {after} are past retention; the oldest kept is {window.oldest}",
            oldest_cursor=str(window.oldest - 1),
        )
    rows = window.events
    # Short: past all it examined; a cursor from the future (or an empty log) stays as it is.
    cursor = rows[-1].seq if len(rows) == limit else max(after, window.scanned_to or 0)
    return versions.render_all((cloudevent(row, source, versions) for row in rows), choice), cursor


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
