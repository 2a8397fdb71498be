"""The service draws its randomness (back-off, loop intervals, which sink a relay takes) from
a generator of its own: a running app leaves the ``random`` module's global state alone.

A background loop that drew from the global generator changed its state under other code of
the process: Hypothesis, drawing a schemathesis example while the app's lifespan thread ticked,
saw the state move and failed the example as a strategy "using random" (CI, stop 28).
"""

from __future__ import annotations

import asyncio
import random

import httpx

from expsvc import jitter
from expsvc.app import create_app
from tests.conftest import make_settings
from tests.helpers import create_run


async def test_a_running_app_leaves_the_global_random_state_alone(database_url: str) -> None:
    # Every loop that sleeps a jittered interval ticks many times within the second below.
    app = create_app(
        make_settings(
            database_url,
            relay_enabled=True,
            reaper_interval_seconds=0.02,
            idempotency_purge_interval_seconds=0.02,
            event_purge_interval_seconds=0.02,
            relay_metrics_interval_seconds=0.02,
            capture_reconcile_interval_seconds=0.02,
        )
    )
    before = random.getstate()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(5):  # events for the relay to publish
                await create_run(client)
        await asyncio.sleep(1.0)
        assert random.getstate() == before
    assert random.getstate() == before


def test_backoff_doubles_up_to_its_cap_with_equal_jitter() -> None:
    for failures, ceiling in ((1, 0.4), (3, 1.6), (20, 30.0)):
        delays = [jitter.backoff(failures, base=0.2) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (failures, delays)
        assert len(set(delays)) > 1  # jittered, not a fixed step


def test_spread_stays_within_its_fraction() -> None:
    values = [jitter.spread(10.0, 0.1) for _ in range(200)]
    assert all(9.0 <= value <= 11.0 for value in values)
    assert len(set(values)) > 1
    assert sorted(jitter.shuffled([1, 2, 3, 4])) == [1, 2, 3, 4]
    assert jitter.choice(["only"]) == "only"
