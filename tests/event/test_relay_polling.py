"""Commits do not NOTIFY (migration 0008): the leading relay finds new events by polling."""

from __future__ import annotations

import time

from tests.event.support import feed_until, relay_app
from tests.helpers import create_experiment


async def test_events_reach_the_feed_without_a_commit_notification(database_url: str) -> None:
    async with relay_app(database_url) as client:
        await feed_until(client, 0)  # the relay is up
        for count in range(1, 4):
            committed = time.monotonic()
            await create_experiment(client, name=f"e{count}")
            await feed_until(client, count)
            # The relay polls every 10-100 ms; the fallback timer it had without polling (and
            # without the notification) was 5 s.
            assert time.monotonic() - committed < 3.0
