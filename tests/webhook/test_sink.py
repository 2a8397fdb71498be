"""The webhook sink leaves its cursor behind while there is no endpoint, and loses nothing."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx

from tests.helpers import create_experiment
from tests.webhook.receiver import Receiver
from tests.webhook.support import create_webhook, deliveries, delivery_when


async def cursors(database_url: str) -> tuple[int, int]:
    """(the last sequenced event, the webhooks sink's cursor)."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT coalesce(max(seq), 0) FROM outbox_events) AS sequenced,"
            " (SELECT coalesce(max(last_seq), 0) FROM event_sink_cursors"
            "  WHERE sink = 'webhooks') AS webhooks"
        )
        assert row is not None
        return int(row["sequenced"]), int(row["webhooks"])
    finally:
        await connection.close()


async def until_caught_up(database_url: str, deadline: float = 10.0) -> int:
    stop = time.monotonic() + deadline
    while True:
        sequenced, webhooks = await cursors(database_url)
        if sequenced > 0 and webhooks == sequenced:
            return webhooks
        assert time.monotonic() < stop, f"webhooks cursor {webhooks} of {sequenced}"
        await asyncio.sleep(0.02)


async def test_without_endpoints_the_sink_passes_once_a_second_and_then_catches_up(
    hooks: httpx.AsyncClient, receiver: Receiver, database_url: str
) -> None:
    await create_experiment(hooks, name="first")
    first = await until_caught_up(database_url)  # that pass found no endpoint: quiet now
    quiet_from = time.monotonic()
    await create_experiment(hooks, name="second")
    await asyncio.sleep(0.3)
    sequenced, webhooks = await cursors(database_url)
    if time.monotonic() - quiet_from < 0.9:  # still inside the quiet second
        assert sequenced > first
        assert webhooks == first, "the sink passed again while it knew it had no endpoint"

    # An endpoint created while the sink is quiet receives the events after it, not before.
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks, name="third")
    delivered = await delivery_when(hooks, webhook["id"], lambda d: d["status"] == "succeeded")
    assert delivered["event_type"] == "experiment.created"
    assert len(await deliveries(hooks, webhook["id"])) == 1
    (request,) = receiver.requests()
    assert b'"third"' in request.body
    await until_caught_up(database_url)
