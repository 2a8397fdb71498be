"""Relay metrics (backlog, oldest age, published and failures per sink) and the retention purge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.event.support import insert_events, redis_client, relay_app, wait_for_stream
from tests.helpers import create_experiment
from tests.services import free_port

FAST = {"relay_metrics_interval_seconds": 0.1}


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    """``/metrics`` as {(sample name, sink label): value}."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    return parse_metrics(response.text)


def parse_metrics(text: str) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("sink", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("expsvc_outbox_")
    }


async def metrics_until(
    client: httpx.AsyncClient,
    done: Callable[[dict[tuple[str, str], float]], bool],
    deadline: float = 20.0,
) -> dict[tuple[str, str], float]:
    stop = time.monotonic() + deadline
    while True:
        metrics = await scrape(client)
        if done(metrics):
            return metrics
        assert time.monotonic() < stop, f"metrics never got there: {metrics}"
        await asyncio.sleep(0.05)


async def test_a_down_sink_shows_backlog_age_and_failures(database_url: str) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    async with relay_app(database_url, redis_url=nowhere, **FAST) as client:
        for index in range(3):
            await create_experiment(client, name=f"e{index}")
        await asyncio.sleep(0.3)  # let the events age a little
        metrics = await metrics_until(
            client,
            lambda m: (
                m.get(("expsvc_outbox_backlog_events", "redis")) == 3
                and m.get(("expsvc_outbox_oldest_unpublished_age_seconds", "redis"), 0) >= 0.3
                and m.get(("expsvc_outbox_publish_failures_total", "redis"), 0) >= 1
            ),
        )
    assert metrics.get(("expsvc_outbox_published_events_total", "redis"), 0) == 0
    assert metrics[("expsvc_outbox_sequenced_events_total", "")] == 3


async def test_a_healthy_sink_shows_what_it_published_and_no_backlog(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    await insert_events(database_url, 250)
    async with (
        relay_app(database_url, redis_url=redis_url, redis_stream=redis_stream, **FAST) as client,
        redis_client(redis_url) as redis,
    ):
        await wait_for_stream(redis, redis_stream, 250)
        metrics = await metrics_until(
            client, lambda m: m.get(("expsvc_outbox_backlog_events", "redis")) == 0
        )
    assert metrics[("expsvc_outbox_published_events_total", "redis")] == 250
    assert metrics[("expsvc_outbox_oldest_unpublished_age_seconds", "redis")] == 0
    assert metrics.get(("expsvc_outbox_publish_failures_total", "redis"), 0) == 0


async def outbox_count(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM outbox_events"))
    finally:
        await connection.close()


PURGE_FAST = {"event_retention_hours": 0.5 / 3600, "event_purge_interval_seconds": 0.2}


async def test_published_events_past_retention_are_purged(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    await insert_events(database_url, 120)
    async with relay_app(
        database_url, redis_url=redis_url, redis_stream=redis_stream, **FAST, **PURGE_FAST
    ) as client:
        await metrics_until(
            client, lambda m: m.get(("expsvc_outbox_purged_events_total", "")) == 120
        )
        assert await outbox_count(database_url) == 0
    async with relay_app(database_url) as client:  # no purging now: nothing races the checks
        await create_experiment(client)  # the log goes on after a purge
        page = await events_after(client, 120)
        assert [event["sequence"] for event in page] == ["121"]
        expired = await client.get("/v1/events", params={"after": 5})
        assert expired.status_code == 410
        assert expired.json()["oldest_cursor"] == "120"


async def events_after(client: httpx.AsyncClient, cursor: int) -> list[dict[str, Any]]:
    stop = time.monotonic() + 10
    while True:
        response = await client.get("/v1/events", params={"after": cursor})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if items or time.monotonic() > stop:
            return items
        await asyncio.sleep(0.05)


async def test_events_a_sink_has_not_published_are_kept(database_url: str) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    await insert_events(database_url, 10)
    async with relay_app(database_url, redis_url=nowhere, **FAST, **PURGE_FAST) as client:
        await metrics_until(
            client,
            lambda m: m.get(("expsvc_outbox_oldest_unpublished_age_seconds", "redis"), 0) > 1,
        )
        assert await outbox_count(database_url) == 10
        page = (await client.get("/v1/events")).json()
        assert len(page["items"]) == 10  # the feed still has them too


async def test_one_relay_purges_at_a_time(database_url: str) -> None:
    from prometheus_client import CollectorRegistry

    from expsvc.db import Database, create_engine
    from expsvc.event.relay import PURGE_LOCK_ID
    from expsvc.event.runtime import build_relay
    from tests.conftest import make_settings

    settings = make_settings(database_url, **PURGE_FAST)
    database = Database(create_engine(settings, database_url))
    relay = build_relay(settings, database, CollectorRegistry())
    other = await asyncpg.connect(database_url)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock($1)", PURGE_LOCK_ID)
            assert await relay.purge_once() is None  # another relay is purging
        assert await relay.purge_once() == 0
    finally:
        await other.close()
        for sink in relay.sinks:
            await sink.close()
        await database.dispose()
