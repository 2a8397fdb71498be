"""The delivery worker's guarantees that need a worker to misbehave: crashes, send-time checks."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from expsvc.app import create_app
from expsvc.db import Database, create_engine
from expsvc.event.runtime import build_relay
from expsvc.migrate import downgrade
from expsvc.settings import Settings
from expsvc.webhook import delivery as delivery_module
from expsvc.webhook.delivery import WebhookDeliverer
from expsvc.webhook.metrics import WebhookMetrics
from expsvc.webhook.policy import DeliveryPolicy, Outcome
from expsvc.webhook.runtime import running
from expsvc.webhook.sender import WebhookSender, new_client
from tests.conftest import OWNER_ROLE, make_settings, role_url
from tests.helpers import create_experiment
from tests.services import free_port
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Receiver, Reply
from tests.webhook.support import create_webhook, deliveries, delivery_when


@pytest.fixture
def relay_settings(database_url: str) -> Settings:
    return make_settings(database_url, **WEBHOOK_SETTINGS)


@pytest.fixture
async def relay_only(relay_settings: Settings) -> AsyncIterator[FastAPI]:
    """The API and an outbox relay (deliveries are written), but no delivery worker: the tests
    run their own."""
    app = create_app(relay_settings.model_copy(update={"relay_enabled": False}))
    relay = build_relay(relay_settings, app.state.database, CollectorRegistry())
    async with app.router.lifespan_context(app):
        task = asyncio.create_task(relay.run())
        try:
            yield app
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def client(relay_only: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=relay_only)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def _worker(app: FastAPI, settings: Settings, **policy: Any) -> WebhookDeliverer:
    rules = dataclasses.replace(DeliveryPolicy.from_settings(settings), **policy)
    return WebhookDeliverer(
        app.state.database, rules, WebhookMetrics(CollectorRegistry()), app.state.secret_box
    )


async def test_a_delivery_whose_worker_died_is_retried_after_its_lease(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    webhook = await create_webhook(client, receiver.url)
    await create_experiment(client)
    await delivery_when(client, webhook["id"], lambda d: d["status"] == "pending")

    doomed = _worker(relay_only, relay_settings)
    (claimed,) = await doomed.claim(10)  # ... and the process dies before sending
    leased = await delivery_when(client, webhook["id"], lambda d: d["status"] == "delivering")
    lease = datetime.fromisoformat(leased["next_attempt_at"]) - datetime.fromisoformat(
        leased["last_attempt_at"]
    )
    assert lease == timedelta(seconds=relay_settings.webhook_timeout_seconds + 60)

    survivor = _worker(relay_only, relay_settings)
    async with running(survivor):
        assert await survivor.claim(10) == []  # the lease holds
        async with relay_only.state.database.sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 s'")
            )
        survivor._wake.set()
        delivered = await delivery_when(client, webhook["id"], lambda d: d["status"] == "succeeded")
    assert delivered["attempt_count"] == 2  # the lost attempt counts against the budget
    assert len(delivered["attempts"]) == 1  # ... but only what was sent is in the log
    (request,) = receiver.requests()
    assert request.headers["webhook-id"] == str(claimed.delivery.event_id)

    # The dead worker's late report changes nothing.
    await doomed.record(claimed.delivery, _late_outcome())
    after = await delivery_when(client, webhook["id"], lambda d: True)
    assert after["status"] == "succeeded"
    assert len(after["attempts"]) == 2


def _late_outcome() -> Outcome:
    return Outcome(started_at=datetime.now().astimezone(), duration_ms=5, status_code=500)


async def test_targets_are_checked_again_when_sending(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    webhook = await create_webhook(client, receiver.url)  # allowed when it was created
    await create_experiment(client)
    strict = _worker(relay_only, relay_settings, allow_private_targets=False)
    async with running(strict):
        delivery = await delivery_when(client, webhook["id"], lambda d: bool(d["attempts"]))
    # Every attempt is refused before sending (a refused target is retried on the schedule, so
    # a loaded machine may see a second attempt before the poll does).
    assert delivery["attempts"]
    for attempt in delivery["attempts"]:
        assert attempt["status_code"] is None
        assert attempt["error"].startswith("target refused: 127.0.0.1 is a loopback address")
    assert receiver.requests() == []


async def test_several_workers_deliver_each_event_once(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    webhook = await create_webhook(client, receiver.url)
    workers = [_worker(relay_only, relay_settings) for _ in range(3)]
    async with running(workers[0]), running(workers[1]), running(workers[2]):
        for index in range(20):
            await create_experiment(client, name=f"e{index}")
        requests = await receiver.wait_for(20)
        await delivery_when(
            client, webhook["id"], lambda d: d["status"] == "succeeded", deadline=20
        )
    ids = [request.headers["webhook-id"] for request in requests]
    assert len(set(ids)) == len(ids) == 20


@pytest.fixture
async def plain_deliveries(database_url: str) -> None:
    """The deliveries as plain tables (a schema before 0025), for the row purge: list it before
    ``relay_only`` so the app starts on them."""
    await asyncio.to_thread(downgrade, role_url(database_url, OWNER_ROLE), "0024")


async def test_the_purge_keeps_up_with_any_backlog_within_its_budget(
    plain_deliveries: None,
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    """On plain tables: 2,500 finished deliveries past retention go in one call (three
    batches); one past retention but still pending and one finished recently stay. With no
    budget one batch goes and the call says that more are left."""
    webhook = await create_webhook(client, receiver.url)
    async with relay_only.state.database.sessionmaker() as session, session.begin():
        await session.execute(text(_OLD_DELIVERIES), {"endpoint": webhook["id"]})
    worker = _worker(relay_only, relay_settings, retention=timedelta(hours=1))

    assert await worker.purge(0) is True  # one batch, then out of budget
    left = await _deliveries(relay_only)
    assert sum(left.values()) == 2503 - 1000  # which 1,000 of the 2,501 due: any
    assert left["pending"] == 1
    assert await worker.purge(60) is False
    assert await _deliveries(relay_only) == {"failed": 1, "pending": 1}


async def test_the_purge_leaves_partitioned_deliveries_to_the_partition_job(
    relay_only: FastAPI, relay_settings: Settings, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Since 0025 dropping a month is the purge (tests/partition/test_deliveries.py): deleting
    rows would leave their attempts behind (no foreign key cascades to them any more)."""
    webhook = await create_webhook(client, receiver.url)
    async with relay_only.state.database.sessionmaker() as session, session.begin():
        await session.execute(text(_OLD_DELIVERIES), {"endpoint": webhook["id"]})
    worker = _worker(relay_only, relay_settings, retention=timedelta(hours=1))

    assert await worker.purge(60) is False  # nothing left for it to do
    assert sum((await _deliveries(relay_only)).values()) == 2503


_OLD_DELIVERIES = """
INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, max_attempts,
                                status, created_at, finished_at)
SELECT gen_random_uuid(), CAST(:endpoint AS uuid), gen_random_uuid(), 'run.created', '{}', 5,
       status, now() - interval '3 hours', finished
FROM (SELECT 'succeeded' AS status, now() - interval '2 hours' AS finished
        FROM generate_series(1, 2500)
      UNION ALL SELECT 'failed', now() - interval '2 hours'
      UNION ALL SELECT 'failed', now() - interval '10 minutes'
      UNION ALL SELECT 'pending', NULL) AS d
"""


async def _deliveries(app: FastAPI) -> dict[str, int]:
    async with app.state.database.sessionmaker() as session:
        rows = await session.execute(
            text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
        )
        return {row.status: row.count for row in rows}


def _statuses(found: list[dict[str, Any]]) -> list[str]:
    return sorted(item["status"] for item in found)


async def _pending(client: httpx.AsyncClient, webhook_id: str, count: int) -> None:
    """Wait until the relay has written ``count`` deliveries (none claimed: no worker runs)."""
    stop = asyncio.get_running_loop().time() + 10
    while _statuses(await deliveries(client, webhook_id)) != ["pending"] * count:
        assert asyncio.get_running_loop().time() < stop, await deliveries(client, webhook_id)
        await asyncio.sleep(0.03)


async def test_a_worker_at_its_concurrency_claims_nothing_until_an_attempt_ends(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    """The receiver holds every request until the test lets go, so the worker is at its
    concurrency (2) for as long as the test looks: the third due delivery waits, unclaimed."""
    gate = threading.Event()
    receiver.default = Reply(hold=gate)
    webhook = await create_webhook(client, receiver.url)
    for index in range(3):
        await create_experiment(client, name=f"e{index}")
    await _pending(client, webhook["id"], 3)

    worker = _worker(relay_only, relay_settings)
    worker.concurrency = 2
    try:
        async with running(worker), new_client(2.0) as http:
            await receiver.wait_for(2)
            sender = WebhookSender(http, 2.0, allow_private=True)
            assert await worker.deliver_due(sender) == 0  # no free slot: nothing claimed
            assert await worker._idle_seconds() == worker.poll_interval  # an attempt's end wakes it
            found = await deliveries(client, webhook["id"])
            assert _statuses(found) == ["delivering", "delivering", "pending"]
            assert len(receiver.requests()) == 2
            gate.set()
            await receiver.wait_for(3)
            await delivery_when(
                client, webhook["id"], lambda d: d["status"] == "succeeded", deadline=20
            )
            found = await deliveries(client, webhook["id"])
    finally:
        gate.set()
    assert _statuses(found) == ["succeeded"] * 3


async def test_an_endpoint_at_its_in_flight_limit_is_skipped_by_every_worker(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    """One attempt in flight per endpoint: while the receiver holds the first, the second
    delivery stays pending, and another worker's claim finds nothing either."""
    gate = threading.Event()
    receiver.default = Reply(hold=gate)
    webhook = await create_webhook(client, receiver.url)
    for index in range(2):
        await create_experiment(client, name=f"e{index}")
    await _pending(client, webhook["id"], 2)

    worker = _worker(relay_only, relay_settings, max_in_flight_per_endpoint=1)
    other = _worker(relay_only, relay_settings, max_in_flight_per_endpoint=1)
    try:
        async with running(worker):
            await receiver.wait_for(1)
            assert await other.claim(10) == []
            found = await deliveries(client, webhook["id"])
            assert _statuses(found) == ["delivering", "pending"]
            assert len(receiver.requests()) == 1
            gate.set()
            await receiver.wait_for(2)
            await delivery_when(client, webhook["id"], lambda d: d["status"] == "succeeded")
            found = await deliveries(client, webhook["id"])
    finally:
        gate.set()
    assert _statuses(found) == ["succeeded"] * 2


async def test_an_attempt_for_a_deleted_webhook_records_nothing(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    webhook = await create_webhook(client, receiver.url)
    await create_experiment(client)
    await _pending(client, webhook["id"], 1)
    worker = _worker(relay_only, relay_settings)
    (claimed,) = await worker.claim(10)
    assert (await client.delete(f"/v1/webhooks/{webhook['id']}")).status_code == 204
    await worker.record(claimed.delivery, _late_outcome())  # no row left to update: no error
    assert await _deliveries(relay_only) == {}


@contextlib.asynccontextmanager
async def _unreachable(settings: Settings) -> AsyncIterator[Database]:
    """A database on a port nobody listens on: every connection is refused at once."""
    database = Database(create_engine(settings, f"postgresql://expsvc@127.0.0.1:{free_port()}/x"))
    try:
        yield database
    finally:
        await database.engine.dispose()


async def _logged(logs: list[dict[str, Any]], event: str, count: int = 1) -> None:
    stop = asyncio.get_running_loop().time() + 10
    while sum(1 for entry in logs if entry["event"] == event) < count:
        assert asyncio.get_running_loop().time() < stop, f"never logged {event!r}: {logs}"
        await asyncio.sleep(0.02)


async def test_a_worker_that_loses_its_database_backs_off_and_its_lease_retries_the_attempt(
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    """Claims fail and are tried again after a back-off; housekeeping's failure is logged; an
    attempt whose result cannot be recorded is left to its lease (attempted again later)."""
    webhook = await create_webhook(client, receiver.url)
    await create_experiment(client)
    await _pending(client, webhook["id"], 1)
    (claimed,) = await _worker(relay_only, relay_settings).claim(10)

    policy = DeliveryPolicy.from_settings(relay_settings)
    async with _unreachable(relay_settings) as database, new_client(2.0) as http:
        cut_off = WebhookDeliverer(
            database, policy, WebhookMetrics(CollectorRegistry()), relay_only.state.secret_box
        )
        sender = WebhookSender(http, 2.0, allow_private=True)
        with structlog.testing.capture_logs() as logs:
            loop = asyncio.create_task(cut_off._deliver_forever(sender))
            try:
                await _logged(logs, "claiming webhook deliveries failed", count=2)  # again
            finally:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await cut_off._housekeeping()
            await _logged(logs, "webhook housekeeping failed")
            await cut_off.attempt(sender, claimed)
            await _logged(logs, "recording a webhook attempt failed")
    assert len(receiver.requests()) == 1  # sent, but not recorded
    delivery = await delivery_when(client, webhook["id"], lambda d: True)
    assert delivery["status"] == "delivering"  # until the lease ends
    assert delivery["attempts"] == []


async def test_housekeeping_behind_on_the_purge_comes_back_without_the_idle_sleep(
    plain_deliveries: None,
    relay_only: FastAPI,
    relay_settings: Settings,
    client: httpx.AsyncClient,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    webhook = await create_webhook(client, receiver.url)
    async with relay_only.state.database.sessionmaker() as session, session.begin():
        await session.execute(text(_OLD_DELIVERIES), {"endpoint": webhook["id"]})
    worker = _worker(relay_only, relay_settings, retention=timedelta(hours=1))
    monkeypatch.setattr(delivery_module, "_PURGE_BUDGET", 0.0)  # one batch a turn

    await worker._housekeeping()
    assert worker._wake.is_set()  # the next turn comes at once
    assert worker._next_purge <= time.monotonic()  # ... and purges again
    assert sum((await _deliveries(relay_only)).values()) == 2503 - 1000
