"""Capture session changes reach the event feed, in the transaction that made them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from expsvc.app import create_app
from tests.capture.support import act, make_capture, make_run
from tests.conftest import make_settings
from tests.event.test_feed import events_until


@pytest.fixture
async def relay_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, relay_enabled=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_capture_changes_are_events(relay_client: httpx.AsyncClient) -> None:
    run = await make_run(relay_client, "start")
    capture = await make_capture(relay_client, run["id"], capture_session_id="ti-7")
    patched = await relay_client.patch(f"/v1/captures/{capture['id']}", json={"sensors": ["imu"]})
    assert patched.status_code == 200, patched.text
    await act(relay_client, capture["id"], "start")
    await act(relay_client, capture["id"], "fail", reason="imu lost")
    # Refused: no event.
    duplicate = await relay_client.post(
        f"/v1/runs/{run['id']}/captures", json={"capture_session_id": "ti-7"}
    )
    assert duplicate.status_code == 409

    types = ["capture.created", "capture.updated", "capture.started", "capture.failed"]
    events = await events_until(relay_client, 4, type=types)
    assert [e["type"] for e in events] == types
    assert {e["subject"] for e in events} == {f"captures/{capture['id']}"}
    created, updated, started, failed = (e["data"] for e in events)
    assert created["capture"]["capture_session_id"] == "ti-7"
    assert created["capture"]["status"] == "draft"
    assert updated["changed_fields"] == ["sensors"]
    assert updated["capture"]["sensors"] == ["imu"]
    assert started["previous_status"] == "draft"
    assert failed["capture"]["failure_reason"] == "imu lost"
    assert failed["reason"] == "imu lost"
