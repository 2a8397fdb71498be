"""Webhook receivers slow, failing and hanging: one tarpit does not delay the others.

Four real HTTP receivers subscribe to every event: one answers at once, one after 0.3 s, one
always 500, one never within the attempt timeout (a tarpit). A burst of events fans out to all
four. The prompt receiver must get every event well before the tarpit's first attempts time
out: the claim is fair (round-robin over endpoints) and one endpoint holds at most
``EXPSVC_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT`` of the worker's slots.

How it can fail: with the claim in plain due-time order (as before), the tarpit's deliveries
fill all 16 slots of the worker for a whole timeout, and the prompt receiver waits behind them
(``prompt_seconds`` > ``TIMEOUT``); with the limit at 1000 this test failed that way (the
prompt receiver's 40 events took 12.7 s with a 3 s timeout, against 5.9 s with a limit of 2).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from expsvc.app import create_app
from tests.chaos.conftest import report
from tests.conftest import make_settings
from tests.helpers import create_experiment
from tests.webhook.receiver import Receiver, Reply
from tests.webhook.support import create_webhook

pytestmark = pytest.mark.chaos

EVENTS = 40
TIMEOUT = 15.0  # the attempt timeout; the tarpit answers after TARPIT seconds
TARPIT = 60.0
PER_ENDPOINT = 4  # the default


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    made = {name: Receiver() for name in ("prompt", "slow", "failing", "tarpit")}
    made["slow"].default = Reply(delay=0.3)
    made["failing"].default = Reply(status=500)
    made["tarpit"].default = Reply(delay=TARPIT)
    for receiver in made.values():
        receiver.start()
    try:
        yield made
    finally:
        for receiver in made.values():
            receiver.stop()


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        relay_enabled=True,
        webhook_allow_private_targets=True,
        webhook_retry_schedule=(0.5, 0.5, 0.5),
        webhook_timeout_seconds=TIMEOUT,
        webhook_max_in_flight_per_endpoint=PER_ENDPOINT,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def test_a_tarpit_endpoint_does_not_delay_the_others(
    client: httpx.AsyncClient,
    receivers: dict[str, Receiver],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The tarpit subscribes first: its deliveries are the oldest of each event's fan-out.
    for name in ("tarpit", "failing", "slow", "prompt"):
        await create_webhook(client, f"{receivers[name].url}/{name}")
    started = time.monotonic()
    await asyncio.gather(*(create_experiment(client, name=f"e{i}") for i in range(EVENTS)))

    await receivers["prompt"].wait_for(EVENTS, deadline=20)
    prompt_seconds = time.monotonic() - started
    await receivers["slow"].wait_for(EVENTS, deadline=20)
    slow_seconds = time.monotonic() - started
    await receivers["failing"].wait_for(EVENTS, deadline=20)
    # Attempts the tarpit received before any of them could time out: all in flight at once.
    tarpit = receivers["tarpit"].requests()
    tarpit_in_flight = sum(1 for r in tarpit if r.at < tarpit[0].at + TIMEOUT * 0.9)

    report(
        capsys,
        "webhook tarpit",
        events=EVENTS,
        prompt_all_delivered_s=f"{prompt_seconds:.2f}",
        slow_all_delivered_s=f"{slow_seconds:.2f}",
        failing_attempts=len(receivers["failing"].requests()),
        tarpit_most_in_flight=tarpit_in_flight,
    )
    assert prompt_seconds < TIMEOUT, "the prompt receiver waited behind the tarpit"
    assert tarpit_in_flight <= PER_ENDPOINT
