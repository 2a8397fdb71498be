"""Live streams do not miss a wake-up that lands between reading the log and waiting."""

from __future__ import annotations

import time

from expsvc.db import Database, create_engine
from expsvc.event.feed import FeedNotifier
from tests.conftest import make_settings


async def test_a_notification_before_the_wait_is_not_lost(database_url: str) -> None:
    database = Database(create_engine(make_settings(database_url), database_url))
    notifier = FeedNotifier(database)
    try:
        await notifier.wait(5.0)  # the listener connects and wakes everyone once
        token = notifier.token()  # taken before reading the log
        notifier._notify()  # the log grows while the reader is busy
        started = time.monotonic()
        await notifier.wait(30.0, token)
        assert time.monotonic() - started < 10.0  # at once, not after the 30 s wait
    finally:
        notifier.close()
        await database.dispose()
