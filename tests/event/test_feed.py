"""The outbox, the relay's sequencing and the HTTP event feed (list and SSE)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.event.support import live_app
from tests.helpers import act, create_experiment, create_run


@pytest.fixture
async def relay_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, relay_enabled=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def events_until(
    client: httpx.AsyncClient, count: int, deadline: float = 10.0, **params: Any
) -> list[dict[str, Any]]:
    """Poll the feed until it holds ``count`` events (no fixed sleeps)."""
    stop = time.monotonic() + deadline
    while True:
        response = await client.get("/v1/events", params={"limit": 1000, **params})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) >= count or time.monotonic() > stop:
            return items
        await asyncio.sleep(0.05)


async def test_changes_appear_in_order_as_cloudevents(relay_client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(relay_client, name="e")
    run = await create_run(relay_client, experiment["id"])
    path = f"/v1/runs/{run['id']}"
    await act(relay_client, path, "start")
    await relay_client.patch(path, json={"tags": ["t"]})
    await act(relay_client, path, "fail", reason="oom")

    events = await events_until(relay_client, 6)
    assert [e["type"] for e in events] == [
        "experiment.created",
        "run.created",
        "experiment.started",
        "run.started",
        "run.updated",
        "run.failed",
    ]
    assert [int(e["sequence"]) for e in events] == sorted(int(e["sequence"]) for e in events)
    failed = events[-1]
    assert failed["specversion"] == "1.0"
    assert failed["source"] == "/expsvc"
    assert failed["subject"] == f"runs/{run['id']}"
    assert failed["datacontenttype"] == "application/json"
    assert failed["schemaversion"] == "1"
    assert uuid.UUID(failed["id"])
    data = failed["data"]
    assert data["run"]["status"] == "failed"
    assert data["run"]["failure_reason"] == "oom"
    assert data["previous_status"] == "running"
    assert data["reason"] == "oom"
    assert data["actor"] == "anonymous"
    assert events[2]["data"]["source"] == "system"
    assert events[4]["data"]["changed_fields"] == ["tags"]


async def test_failed_requests_emit_nothing(relay_client: httpx.AsyncClient) -> None:
    run = await create_run(relay_client)
    path = f"/v1/runs/{run['id']}"
    assert (await relay_client.post(f"{path}/finish")).status_code == 409
    assert (await relay_client.post(f"{path}/fail", json={})).status_code == 422
    assert (await relay_client.patch(path, json={"name": ""})).status_code == 422
    stale = await relay_client.patch(path, json={"name": "x"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    await act(relay_client, path, "start")  # a marker: once it is visible, so is all before
    events = await events_until(relay_client, 4)
    assert [e["type"] for e in events] == [
        "experiment.created",
        "run.created",
        "experiment.started",
        "run.started",
    ]


async def test_traceparent_is_carried_into_the_event(relay_client: httpx.AsyncClient) -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = await relay_client.post(
        "/v1/experiments", json={"name": "e"}, headers={"traceparent": traceparent}
    )
    assert response.status_code == 201
    (event,) = await events_until(relay_client, 1)
    assert event["traceparent"] == traceparent


async def test_cursor_and_type_filter(relay_client: httpx.AsyncClient) -> None:
    for index in range(3):
        await create_experiment(relay_client, name=f"e{index}")
    await events_until(relay_client, 3)
    first = (await relay_client.get("/v1/events", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    rest = (await relay_client.get("/v1/events", params={"after": first["next_cursor"]})).json()
    assert len(rest["items"]) == 1
    idle = (await relay_client.get("/v1/events", params={"after": rest["next_cursor"]})).json()
    assert idle["items"] == []
    assert idle["next_cursor"] == rest["next_cursor"]
    only_runs = (await relay_client.get("/v1/events", params={"type": "run.created"})).json()
    assert only_runs["items"] == []


@pytest.mark.parametrize(
    ("params", "status"),
    [({"type": "run.exploded"}, 400), ({"after": -1}, 422), ({"limit": 5000}, 422)],
)
async def test_feed_refuses_bad_queries(
    client: httpx.AsyncClient, params: dict[str, Any], status: int
) -> None:
    response = await client.get("/v1/events", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def _read_sse(
    client: httpx.AsyncClient, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    async with client.stream("GET", "/v1/events/stream", headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event_id = None
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                event = orjson.loads(line[6:])
                assert event["sequence"] == event_id
                received.append(event)
                if len(received) == count:
                    break
    return received


@pytest.fixture
async def live_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with live_app(database_url) as client:
        yield client


async def test_sse_stream_delivers_live_and_resumes(live_client: httpx.AsyncClient) -> None:
    await create_experiment(live_client, name="before")
    reader = asyncio.create_task(_read_sse(live_client, 3))
    await asyncio.sleep(0.2)
    await create_experiment(live_client, name="live-1")
    await create_experiment(live_client, name="live-2")
    events = await asyncio.wait_for(reader, 10)
    assert [e["data"]["experiment"]["name"] for e in events] == ["before", "live-1", "live-2"]

    resumed = await asyncio.wait_for(
        _read_sse(live_client, 2, {"Last-Event-ID": events[0]["sequence"]}), 10
    )
    assert [e["id"] for e in resumed] == [e["id"] for e in events[1:]]


async def test_sse_refuses_a_malformed_last_event_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events/stream", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400


async def test_relay_metrics_are_exposed(relay_client: httpx.AsyncClient, app: FastAPI) -> None:
    del app
    await create_experiment(relay_client)
    await events_until(relay_client, 1)
    metrics = (await relay_client.get("/metrics")).text
    assert "expsvc_outbox_sequenced_events_total" in metrics
