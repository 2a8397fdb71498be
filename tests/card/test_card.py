"""GET /v1/runs/{id}/card against a real fake Metrics Service: complete, degraded when Metrics is
down, slow or short-circuited, recovering through the half-open breaker."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.card.fake_metrics import FakeMetrics
from tests.conftest import make_settings
from tests.helpers import PROBLEM, act, create_run

LOSS = {"count": 120, "min": 0.1, "max": 2.5, "mean": 0.7, "last": 0.12, "last_step": 119}


@pytest.fixture
def metrics() -> Iterator[FakeMetrics]:
    server = FakeMetrics().start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def card_client(
    database_url: str, metrics: FakeMetrics | None, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    # A generous budget unless a test is about the timeout: a loaded CI machine can take longer
    # than the production 0.3 s to answer even a healthy fake.
    overrides: dict[str, Any] = {"metrics_service_timeout_seconds": 5.0, **settings}
    if metrics is not None:
        overrides["metrics_service_url"] = metrics.url
    app = create_app(make_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield app, client


async def add_artifact(database_url: str, run_id: str, artifact_id: str, approved: bool) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO run_artifacts (id, run_id, artifact_id, uri, kind, status,"
            " approved_model, reported_at) VALUES ($1, $2, $3, $4, 'model', $5, $6, now())",
            uuid.uuid4(),
            uuid.UUID(run_id),
            artifact_id,
            f"s3://bucket/{artifact_id}",
            "approved" if approved else "pending",
            approved,
        )
    finally:
        await connection.close()


class Clock:
    """Stands in for the breaker's monotonic clock: the test moves it past the cooldown."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker_clock(app: FastAPI) -> Clock:
    clock = Clock()
    app.state.metrics_service.breaker.clock = clock
    return clock


async def card(client: httpx.AsyncClient, run_id: str, **headers: str) -> dict[str, Any]:
    response = await client.get(f"/v1/runs/{run_id}/card", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_card_has_the_run_captures_sensors_artifacts_and_metrics(
    database_url: str, metrics: FakeMetrics
) -> None:
    async with card_client(database_url, metrics) as (_, client):
        run = await create_run(client)
        path = f"/v1/runs/{run['id']}"
        await act(client, path, "start")
        first = (await client.post(f"{path}/captures", json={"sensors": ["imu", "gps"]})).json()
        second = (await client.post(f"{path}/captures", json={"sensors": ["gps", "lidar"]})).json()
        await add_artifact(database_url, run["id"], "a-1", approved=False)
        await add_artifact(database_url, run["id"], "model-7", approved=True)
        metrics.aggregates[run["id"]] = {"loss": LOSS, "accuracy": {"last": 0.93}}

        body = await card(client, run["id"], **{"X-Request-ID": "card-req-1"})

    assert body["run"]["id"] == run["id"]
    assert body["run"]["status"] == "running"
    assert [c["id"] for c in body["captures"]] == [second["id"], first["id"]]
    assert body["sensors"] == ["gps", "imu", "lidar"]
    assert [a["artifact_id"] for a in body["artifacts"]] == ["model-7", "a-1"]
    assert body["metrics"]["aggregates"]["loss"] == {**LOSS, "last_at": None}
    assert body["metrics"]["aggregates"]["accuracy"]["last"] == 0.93
    assert body["metrics"]["updated_at"] == "2026-11-26T10:00:00Z"
    assert body["degraded"] == []
    assert body["truncated"] == []
    path_called, headers = metrics.requests[-1]
    assert path_called == f"/v1/runs/{run['id']}/aggregates"
    assert headers["x-request-id"] == "card-req-1"


async def test_a_run_metrics_does_not_know_has_empty_aggregates(
    database_url: str, metrics: FakeMetrics
) -> None:
    async with card_client(database_url, metrics) as (_, client):
        run = await create_run(client)
        body = await card(client, run["id"])
    assert body["metrics"] == {"aggregates": {}, "updated_at": None}
    assert body["degraded"] == []
    assert (body["captures"], body["sensors"], body["artifacts"]) == ([], [], [])


@pytest.mark.parametrize(
    "trouble",
    [
        {"hold": True},
        {"status": 503},
        {"status": 500},
        {"drop": True},
        {"body": b"not json"},
        {"body": b'{"run_id": "00000000-0000-0000-0000-000000000000", "aggregates": {}}'},
        {"body": b'{"run_id": "x", "aggregates": []}'},
    ],
    ids=["slow", "503", "500", "dropped", "not-json", "other-run", "wrong-shape"],
)
async def test_metrics_trouble_degrades_the_card_quickly(
    database_url: str, metrics: FakeMetrics, trouble: dict[str, Any]
) -> None:
    async with card_client(database_url, metrics, metrics_service_timeout_seconds=0.3) as (
        _,
        client,
    ):
        run = await create_run(client)
        metrics.aggregates[run["id"]] = {"loss": LOSS}
        for name, value in trouble.items():
            setattr(metrics, name, value)
        started = time.monotonic()
        body = await card(client, run["id"])
        elapsed = time.monotonic() - started
    assert body["degraded"] == ["metrics"]
    assert body["metrics"] is None
    assert body["run"]["id"] == run["id"]
    # The Metrics timeout bounds the card's latency (a held answer never comes); the rest of the
    # 2 s is for the database reads on a loaded machine, and a timeout ten times too long fails.
    assert elapsed < 2.0, elapsed


async def test_an_unreachable_metrics_service_degrades_the_card(database_url: str) -> None:
    from tests.services import free_port

    async with card_client(
        database_url, None, metrics_service_url=f"http://127.0.0.1:{free_port()}"
    ) as (_, client):
        run = await create_run(client)
        body = await card(client, run["id"])
    assert body["degraded"] == ["metrics"]


async def test_the_breaker_opens_skips_the_call_then_recovers_half_open(
    database_url: str, metrics: FakeMetrics
) -> None:
    settings = {"metrics_breaker_failure_threshold": 2, "metrics_breaker_cooldown_seconds": 30}
    async with card_client(database_url, metrics, **settings) as (app, client):
        clock = breaker_clock(app)
        run = await create_run(client)
        metrics.aggregates[run["id"]] = {"loss": LOSS}
        metrics.status = 503
        for _ in range(2):
            assert (await card(client, run["id"]))["degraded"] == ["metrics"]
        assert metrics.calls == 2

        # Open: no call is made, the card answers degraded at once.
        metrics.healthy()
        for _ in range(3):
            assert (await card(client, run["id"]))["degraded"] == ["metrics"]
        assert metrics.calls == 2

        # Half-open after the cooldown: one trial; it fails, so open again.
        clock.now += 29.5
        assert (await card(client, run["id"]))["degraded"] == ["metrics"]
        assert metrics.calls == 2  # not yet
        clock.now += 0.5
        metrics.status = 503
        assert (await card(client, run["id"]))["degraded"] == ["metrics"]
        assert metrics.calls == 3
        assert (await card(client, run["id"]))["degraded"] == ["metrics"]
        assert metrics.calls == 3

        # The next trial succeeds: closed, calls go through again.
        clock.now += 30
        metrics.healthy()
        for expected_calls in (4, 5):
            body = await card(client, run["id"])
            assert body["degraded"] == []
            assert body["metrics"]["aggregates"]["loss"]["last"] == LOSS["last"]
            assert metrics.calls == expected_calls

        exposition = (await client.get("/metrics")).text
    assert 'expsvc_metrics_service_requests_total{outcome="short_circuited"} 5.0' in exposition
    assert 'expsvc_metrics_service_requests_total{outcome="error"} 3.0' in exposition
    assert 'expsvc_metrics_service_requests_total{outcome="ok"} 2.0' in exposition
    assert "expsvc_metrics_service_breaker_open 0.0" in exposition


async def test_concurrent_cards_while_half_open_make_one_trial_call(
    database_url: str, metrics: FakeMetrics
) -> None:
    settings = {
        "metrics_breaker_failure_threshold": 1,
        "metrics_breaker_cooldown_seconds": 30,
        "metrics_service_timeout_seconds": 30.0,
    }
    async with card_client(database_url, metrics, **settings) as (app, client):
        clock = breaker_clock(app)
        run = await create_run(client)
        metrics.aggregates[run["id"]] = {"loss": LOSS}
        metrics.status = 503
        await card(client, run["id"])
        clock.now += 30
        metrics.healthy()
        metrics.hold = True  # the trial is in flight until the other four have answered
        cards = [asyncio.create_task(card(client, run["id"])) for _ in range(5)]
        pending = set(cards)
        async with asyncio.timeout(30):
            while len(pending) > 1:
                _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        metrics.release.set()
        bodies = await asyncio.gather(*cards)
    assert metrics.calls == 2  # the failure, then a single trial
    assert sorted(len(b["degraded"]) for b in bodies) == [0, 1, 1, 1, 1]


async def test_without_a_metrics_service_the_card_has_no_metrics_and_is_not_degraded(
    client: httpx.AsyncClient,
) -> None:
    run = await create_run(client)
    body = await card(client, run["id"])
    assert body["metrics"] is None
    assert body["degraded"] == []


async def test_an_unknown_run_is_404_without_calling_metrics(
    database_url: str, metrics: FakeMetrics
) -> None:
    async with card_client(database_url, metrics) as (_, client):
        response = await client.get(f"/v1/runs/{uuid.uuid4()}/card")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/run-not-found")
    assert metrics.calls == 0


async def test_long_lists_are_cut_and_say_so(client: httpx.AsyncClient, database_url: str) -> None:
    run = await create_run(client)
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO capture_sessions (id, run_id, capture_session_id, sensors, created_by)"
            " SELECT gen_random_uuid(), $1, 'cap-' || i, ARRAY['s-' || i], 't'"
            " FROM generate_series(1, 101) AS i",
            uuid.UUID(run["id"]),
        )
    finally:
        await connection.close()
    body = await card(client, run["id"])
    assert len(body["captures"]) == 100
    assert len(body["sensors"]) == 101
    assert body["truncated"] == ["captures"]
