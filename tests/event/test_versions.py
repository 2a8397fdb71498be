"""Event data versions (docs/adr/0021): a changed event type is published in both versions, on
the feed, in Redis Streams and on webhooks, for two releases."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook

from expsvc import __version__
from expsvc.app import create_app
from expsvc.event.endpoints import _sse
from expsvc.event.runtime import build_relay
from expsvc.event.versions import EVENT_VERSIONS, EventChange, EventVersions
from expsvc.release.catalogue import Release, current_release
from expsvc.settings import Settings
from expsvc.webhook.delivery import WebhookDeliverer
from expsvc.webhook.metrics import WebhookMetrics
from expsvc.webhook.policy import DeliveryPolicy
from expsvc.webhook.runtime import running
from tests.conftest import make_settings
from tests.event.support import envelope, redis_client, wait_for_stream
from tests.helpers import act, create_run
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Receiver
from tests.webhook.support import create_webhook


def _from_status(data: dict[str, Any]) -> dict[str, Any]:
    """The test's change: version 1 of run.started named previous_status from_status."""
    data["from_status"] = data.pop("previous_status")
    return data


# Registered by these tests only: run.started's data is at version 2 from this code's release,
# version 1 being today's data with previous_status renamed from_status.
RENAMED = EventChange("run.started", 2, current_release().version, _from_status)


def _release(version: str) -> Release:
    return Release(version, "0001", "0001", version, commit="0" * 40, date=date(2026, 1, 1))


def _envelope(event_type: str = "run.started") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "sequence": "7",
        "schemaversion": "2",
        "dataschema": f"urn:expsvc:events:{event_type}:2",
        "data": {"previous_status": "draft", "run": {"id": "r"}},
    }


# --- the registry ---------------------------------------------------------------------------


def test_the_service_declares_no_change_whose_window_has_closed() -> None:
    # When the third release is opened in releases.toml, a change's old version is no longer
    # published: this fails until its downgrade is removed from EVENT_CHANGES.
    assert EVENT_VERSIONS.expired() == []


def test_both_versions_are_rendered_newest_first_with_their_own_ids() -> None:
    versions = EventVersions([RENAMED])
    newest = _envelope()
    rendered = versions.render(newest)
    assert [event["schemaversion"] for event in rendered] == ["2", "1"]
    assert rendered[0] is newest
    older = rendered[1]
    assert older["dataschema"] == "urn:expsvc:events:run.started:1"
    assert older["data"] == {"from_status": "draft", "run": {"id": "r"}}
    assert newest["data"] == {"previous_status": "draft", "run": {"id": "r"}}  # untouched
    assert older["sequence"] == newest["sequence"]
    assert older["id"] != newest["id"]
    assert versions.render(newest)[1]["id"] == older["id"]  # the same on every redelivery
    assert [e["schemaversion"] for e in versions.render(newest, "newest")] == ["2"]
    assert [e["schemaversion"] for e in versions.render(newest, "oldest")] == ["1"]
    other = _envelope("run.finished")
    assert versions.render(other) == [other]  # unchanged types: one version


def test_a_chain_of_changes_renders_every_version_still_published() -> None:
    catalogue = [_release("0.1.0"), _release("0.2.0"), _release("0.3.0"), _release("0.4.0")]

    def add_note(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "note": "v2 had this"}

    changes = [
        dataclasses.replace(RENAMED, introduced_in="0.3.0"),
        EventChange("run.started", 3, "0.4.0", add_note),
    ]
    versions = EventVersions(changes, catalogue=catalogue, release="0.4.0.dev0")
    newest = {**_envelope(), "schemaversion": "3"}
    assert versions.newest("run.started") == 3
    rendered = versions.render(newest)
    assert [event["schemaversion"] for event in rendered] == ["3", "2", "1"]
    assert rendered[2]["data"] == {
        "from_status": "draft",
        "run": {"id": "r"},
        "note": "v2 had this",
    }
    assert len({event["id"] for event in rendered}) == 3


def test_the_old_version_is_published_by_two_releases_then_stops() -> None:
    catalogue = [_release("0.1.0"), _release("0.2.0"), _release("0.3.0"), _release("0.4.0")]
    change = dataclasses.replace(RENAMED, introduced_in="0.2.0")
    published = {
        release: EventVersions([change], catalogue=catalogue, release=release).still_published(
            change
        )
        for release in ("0.2.0", "0.3.0.dev0", "0.4.0")
    }
    assert published == {"0.2.0": True, "0.3.0.dev0": True, "0.4.0": False}
    closed = EventVersions([change], catalogue=catalogue, release="0.4.0")
    assert closed.expired() == [change]
    assert [e["schemaversion"] for e in closed.render(_envelope())] == ["2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dataclasses.replace(RENAMED, event_type="run.exploded"), "not an event type"),
        (dataclasses.replace(RENAMED, version=3), "expected 2"),
        (dataclasses.replace(RENAMED, introduced_in="99.0.0"), "not released by this code"),
    ],
)
def test_a_malformed_change_is_refused(change: EventChange, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventVersions([change])


def test_sse_sets_the_resume_cursor_on_the_last_version_of_a_position() -> None:
    newest, older = EventVersions([RENAMED]).render(_envelope())
    assert not _sse(newest, older).startswith(b"id:")
    assert _sse(older, None).startswith(b"id: 7\n")
    assert _sse(older, {**newest, "sequence": "8"}).startswith(b"id: 7\n")


# --- through the sinks ----------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def versioned_settings(database_url: str, redis_url: str, redis_stream: str) -> Settings:
    return make_settings(
        database_url, **WEBHOOK_SETTINGS, redis_url=redis_url, redis_stream=redis_stream
    )


@pytest.fixture
async def versioned_app(versioned_settings: Settings) -> AsyncIterator[FastAPI]:
    """The API, its relay (Redis and webhooks) and a delivery worker, with RENAMED registered."""
    versions = EventVersions([RENAMED])
    app = create_app(versioned_settings.model_copy(update={"relay_enabled": False}))
    app.state.event_versions = versions
    relay = build_relay(versioned_settings, app.state.database, CollectorRegistry(), versions)
    deliverer = WebhookDeliverer(
        app.state.database,
        DeliveryPolicy.from_settings(versioned_settings),
        WebhookMetrics(CollectorRegistry()),
        app.state.secret_box,
    )
    async with app.router.lifespan_context(app), running(deliverer):
        task = asyncio.create_task(relay.run())
        try:
            yield app
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def client(versioned_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=versioned_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


async def _feed(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/events", params={"type": "run.started", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _feed_once_sequenced(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """The run.started events once the relay has sequenced one (it does so asynchronously)."""
    stop = time.monotonic() + 10
    while not (items := await _feed(client, **params)):
        assert time.monotonic() < stop, "run.started was never sequenced"
        await asyncio.sleep(0.05)
    return items


async def test_a_changed_event_is_published_in_both_versions_everywhere(
    client: httpx.AsyncClient, redis_url: str, redis_stream: str, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url, event_types=["run.started"])
    run = await create_run(client)
    await act(client, f"/v1/runs/{run['id']}", "start")

    # Webhooks: one signed delivery per version, each with its own webhook-id.
    requests = await receiver.wait_for(2)
    bodies = [Webhook(webhook["secret"]).verify(r.body, r.headers) for r in requests]
    assert sorted(body["schemaversion"] for body in bodies) == ["1", "2"]
    assert {r.headers["webhook-id"] for r in requests} == {body["id"] for body in bodies}

    # The feed: both, newest first, at the same position; a reader may ask for one.
    newest, older = await _feed(client)
    assert (newest["schemaversion"], older["schemaversion"]) == ("2", "1")
    assert newest["dataschema"] == "urn:expsvc:events:run.started:2"
    assert older["dataschema"] == "urn:expsvc:events:run.started:1"
    assert newest["sequence"] == older["sequence"]
    assert newest["id"] != older["id"]
    assert newest["data"]["previous_status"] == older["data"]["from_status"] == "draft"
    assert "previous_status" not in older["data"]
    assert {k: v for k, v in newest["data"].items() if k != "previous_status"} == {
        k: v for k, v in older["data"].items() if k != "from_status"
    }
    assert await _feed(client, versions="newest") == [newest]
    assert await _feed(client, versions="oldest") == [older]
    assert sorted(bodies, key=lambda b: b["schemaversion"]) == [older, newest]
    others = (await client.get("/v1/events", params={"type": "run.created"})).json()["items"]
    assert [event["schemaversion"] for event in others] == ["1"]  # unchanged types: one

    # Redis Streams: both envelopes, as the feed shows them.
    async with redis_client(redis_url) as redis:
        entries = await wait_for_stream(redis, redis_stream, 5)
    started = [envelope(e) for e in entries if envelope(e)["type"] == "run.started"]
    assert started == [newest, older]
    assert [e["schemaversion"] for e in map(envelope, entries)].count("2") == 1


@contextlib.asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` behind a real uvicorn server (the ASGI transport buffers whole responses)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _sse_blocks(url: str, count: int, **params: Any) -> list[dict[str, Any]]:
    """The first ``count`` SSE events of run.started: each its ``id`` (or None) and envelope."""
    blocks: list[dict[str, Any]] = []
    query = {"type": "run.started", **params}
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        http.stream("GET", "/v1/events/stream", params=query) as response,
    ):
        assert response.status_code == 200
        block: dict[str, Any] = {"id": None}
        async for line in response.aiter_lines():
            if line.startswith("id: "):
                block["id"] = line[4:]
            elif line.startswith("data: "):
                block["event"] = orjson.loads(line[6:])
            elif not line and "event" in block:
                blocks.append(block)
                block = {"id": None}
                if len(blocks) == count:
                    break
    return blocks


async def test_the_stream_sends_both_versions_and_resumes_before_the_pair(
    versioned_app: FastAPI, client: httpx.AsyncClient
) -> None:
    run = await create_run(client)
    await act(client, f"/v1/runs/{run['id']}", "start")
    (newest,) = await _feed_once_sequenced(client, versions="newest")
    sequence = newest["sequence"]
    async with _served(versioned_app) as url:
        both = await asyncio.wait_for(_sse_blocks(url, 2), 10)
        oldest = await asyncio.wait_for(_sse_blocks(url, 1, versions="oldest"), 10)
    assert [b["event"]["schemaversion"] for b in both] == ["2", "1"]
    # Only the pair's last event moves the resume cursor: a stream cut between them resumes
    # before the position and sends both again.
    assert [b["id"] for b in both] == [None, sequence]
    assert both[0]["event"] == newest
    assert [(b["id"], b["event"]["schemaversion"]) for b in oldest] == [(sequence, "1")]


async def test_an_unknown_version_choice_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events", params={"versions": "v1"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "versions" in response.text


def test_the_registered_change_belongs_to_this_code() -> None:
    assert RENAMED.introduced_in.split(".")[:2] == __version__.split(".")[:2]
