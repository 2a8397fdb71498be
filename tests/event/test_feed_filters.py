"""The feed's filters (experiments and types, list and SSE) and its cursor, which moves past the
events a read examined whether or not they matched."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from expsvc.event.endpoints import MAX_FEED_EXPERIMENTS
from tests.event.support import live_app, relay_app
from tests.helpers import act, create_experiment, create_run
from tests.problems import assert_problem

SCAN = 5  # events one read examines (EXPSVC_EVENT_FEED_SCAN_LIMIT), small to see the windows


@pytest.fixture
async def feed(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with relay_app(database_url, event_feed_scan_limit=SCAN) as client:
        yield client


async def _page(client: httpx.AsyncClient, **params: Any) -> tuple[list[dict[str, Any]], int]:
    response = await client.get("/v1/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    page = response.json()
    return page["items"], int(page["next_cursor"])


async def _everything(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every matching event, following the cursor until it stops moving."""
    items, cursor, after = [], 0, -1
    while cursor != after:
        after = cursor
        page, cursor = await _page(client, after=after, **params)
        items += page
    return items


async def _log_until(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The whole log once it holds ``count`` events (sequencing is asynchronous)."""
    stop = time.monotonic() + 30
    while len(events := await _everything(client)) < count:
        assert time.monotonic() < stop, f"the feed holds {len(events)} of {count} events"
        await asyncio.sleep(0.05)
    return events


def _subjects(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["type"], event["subject"].split("/")[1]) for event in events]


async def test_an_experiment_filter_takes_its_runs_and_captures_along(
    feed: httpx.AsyncClient,
) -> None:
    first, second = await create_experiment(feed, name="a"), await create_experiment(feed, name="b")
    run = await create_run(feed, first["id"])
    other_run = await create_run(feed, second["id"])
    await act(feed, f"/v1/runs/{run['id']}", "start")
    capture = await feed.post(f"/v1/runs/{run['id']}/captures", json={})
    assert capture.status_code == 201, capture.text
    await act(feed, f"/v1/runs/{other_run['id']}", "start")
    everything = await _log_until(feed, 9)

    firsts = await _everything(feed, experiment_id=first["id"])
    assert _subjects(firsts) == [
        ("experiment.created", first["id"]),
        ("run.created", run["id"]),
        ("experiment.started", first["id"]),
        ("run.started", run["id"]),
        ("capture.created", capture.json()["id"]),
    ]
    both = await _everything(feed, experiment_id=[first["id"], second["id"]])
    assert both == everything
    started = await _everything(
        feed, experiment_id=[second["id"], first["id"]], type=["run.started", "run.created"]
    )
    assert _subjects(started) == [
        ("run.created", run["id"]),
        ("run.created", other_run["id"]),
        ("run.started", run["id"]),
        ("run.started", other_run["id"]),
    ]
    assert await _everything(feed, experiment_id=str(uuid.uuid4())) == []


async def test_polls_move_past_filtered_out_events_without_rescanning(
    feed: httpx.AsyncClient,
) -> None:
    others = await create_experiment(feed, name="others")
    for index in range(2 * SCAN + 2):  # 12 events of another experiment ...
        response = await feed.patch(f"/v1/experiments/{others['id']}", json={"name": f"o{index}"})
        assert response.status_code == 200, response.text
    wanted = await create_experiment(feed, name="wanted")  # ... then the one wanted
    log = [int(event["sequence"]) for event in await _log_until(feed, 2 * SCAN + 4)]
    head = log[-1]

    cursors, found, after = [], [], 0
    while not found:
        found, after = await _page(feed, after=after, experiment_id=wanted["id"])
        cursors.append(after)
    # Each poll examined the next SCAN events and moved past them; none was read twice.
    assert cursors == [log[SCAN - 1], log[2 * SCAN - 1], head]
    assert _subjects(found) == [("experiment.created", wanted["id"])]
    assert await _page(feed, after=head, experiment_id=wanted["id"]) == ([], head)

    # A type filter reads only events of its types (an index range): none of them, and the
    # cursor goes to the head of the log at once; the next poll starts from there.
    assert await _page(feed, type="run.finished") == ([], head)
    assert await _page(feed, type="experiment.created", after=log[0]) == (found, head)


async def test_a_full_page_ends_at_its_last_event(feed: httpx.AsyncClient) -> None:
    experiment = await create_experiment(feed)
    for index in range(3):
        await feed.patch(f"/v1/experiments/{experiment['id']}", json={"name": f"n{index}"})
    log = [int(event["sequence"]) for event in await _log_until(feed, 4)]
    page, cursor = await _page(feed, limit=2, experiment_id=experiment["id"])
    assert [int(event["sequence"]) for event in page] == log[:2]
    assert cursor == log[1]
    rest, cursor = await _page(feed, after=cursor, limit=2, experiment_id=experiment["id"])
    assert [int(event["sequence"]) for event in rest] == log[2:]
    assert cursor == log[3]


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"experiment_id": "not-a-uuid"}, 422, "validation-error"),
        (
            {"experiment_id": [str(uuid.uuid4()) for _ in range(MAX_FEED_EXPERIMENTS + 1)]},
            422,
            "validation-error",
        ),
        ({"type": ["run.started", "run.exploded"]}, 400, "bad-request"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/events", "/v1/events/stream"])
async def test_bad_filters_are_refused(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], status: int, slug: str
) -> None:
    assert_problem(await client.get(path, params=params), status, slug)


async def test_the_stream_filters_and_moves_its_cursor_past_what_it_skipped(
    database_url: str,
) -> None:
    async with live_app(database_url, event_feed_scan_limit=SCAN) as client:
        others = await create_experiment(client, name="others")
        for index in range(2 * SCAN):
            await client.patch(f"/v1/experiments/{others['id']}", json={"name": f"o{index}"})
        wanted = await create_experiment(client, name="wanted")
        log = [event["sequence"] for event in await _log_until(client, 2 * SCAN + 2)]
        lines = await _stream_opening(client, {"experiment_id": wanted["id"]}, events=1)
        # Reconnecting from the last bare id reads on from there.
        resumed = await _stream_opening(
            client, {"experiment_id": wanted["id"]}, events=1, last_event_id=log[2 * SCAN - 1]
        )
    # Bare ids while the filter skips events (a reconnect resumes past them), then the event.
    assert lines[:3] == [f"id: {log[SCAN - 1]}", f"id: {log[2 * SCAN - 1]}", f"id: {log[-1]}"]
    assert lines[3] == "event: experiment.created"
    assert orjson.loads(lines[4].removeprefix("data: "))["subject"] == f"experiments/{wanted['id']}"
    assert resumed == lines[2:]


async def _stream_opening(
    client: httpx.AsyncClient, params: dict[str, Any], events: int, last_event_id: str = ""
) -> list[str]:
    """The stream's lines (without blank lines and the retry hint) up to ``events`` events."""
    lines: list[str] = []
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with client.stream(
        "GET", "/v1/events/stream", params=params, headers=headers
    ) as response:
        assert response.status_code == 200
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if line and not line.startswith("retry:"):
                    lines.append(line)
                if sum(line.startswith("data: ") for line in lines) == events:
                    break
    return lines
