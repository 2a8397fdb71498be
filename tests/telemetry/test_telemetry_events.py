"""Telemetry Ingest → us: signed batches of capture and telemetry events, over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.integration.edge import SIGNATURE_CLOCK_STATE
from expsvc.webhook.signing import new_secret
from tests.capture.support import history, make_capture, make_run
from tests.conftest import make_settings
from tests.helpers import PROBLEM
from tests.telemetry.support import TELEMETRY_PATH, event, results, send, signed


async def get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit(client: httpx.AsyncClient, entity_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await get(client, f"/v1/audit?entity_id={entity_id}&page_size=100")
    )["items"]
    return items


async def started_capture_setup(client: httpx.AsyncClient, csid: str) -> dict[str, Any]:
    run = await make_run(client, "start")
    return await make_capture(client, run["id"], capture_session_id=csid)


# --- signatures -------------------------------------------------------------------------------


def _body(*events: dict[str, Any]) -> bytes:
    return orjson.dumps({"events": list(events)})


def _bad_signature(body: bytes) -> dict[str, str]:
    return signed(body, secret=new_secret())


def _missing_signature(body: bytes) -> dict[str, str]:
    headers = signed(body)
    del headers["webhook-signature"]
    return headers


# Far outside the 300 s tolerance, on the wall clock: int() drops up to a second and a loaded
# machine takes its time, so a timestamp near the boundary (301 s once) is accepted now and then.
# The boundary itself is pinned on an injected clock (test_the_tolerance_boundary_over_http and
# tests/integration/test_signature.py).
def _stale(body: bytes) -> dict[str, str]:
    return signed(body, timestamp=int(time.time()) - 600)


def _future(body: bytes) -> dict[str, str]:
    return signed(body, timestamp=int(time.time()) + 600)


def _tampered(body: bytes) -> dict[str, str]:
    return signed(body.replace(b"cs-sig", b"cs-xxx"))


def _no_headers(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json"}


def _other_message_id(body: bytes) -> dict[str, str]:
    headers = signed(body)
    headers["webhook-id"] = "msg_someone_else"
    return headers


def _malformed_message_id(body: bytes) -> dict[str, str]:
    return signed(body, message_id="msg with spaces")  # correctly signed, but not visible ASCII


def _timestamp_not_in_seconds(body: bytes) -> dict[str, str]:
    headers = signed(body)
    headers["webhook-timestamp"] = f"{time.time():.3f}"  # Unix seconds, not fractions
    return headers


@pytest.mark.parametrize(
    "headers",
    [
        _bad_signature,
        _missing_signature,
        _stale,
        _future,
        _tampered,
        _no_headers,
        _other_message_id,
        _malformed_message_id,
        _timestamp_not_in_seconds,
    ],
)
async def test_unsigned_or_badly_signed_batches_are_401_and_apply_nothing(
    ingest: httpx.AsyncClient, headers: Any
) -> None:
    capture = await started_capture_setup(ingest, "cs-sig")
    start = event("capture.started", capture_session_id="cs-sig")
    body = _body(start)
    response = await ingest.post(TELEMETRY_PATH, content=body, headers=headers(body))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/invalid-signature")
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["status"] == "draft"
    # Nothing was recorded either: the same event, signed, is new (not a duplicate).
    assert results(await send(ingest, [start])) == ["applied"]
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["status"] == "running"


SIGNED_AT = 1_764_158_400  # a fixed past second: only the injected clock can accept it


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (SIGNED_AT + 300, 200),  # signed exactly 300 s ago
        (SIGNED_AT + 300.001, 401),
        (SIGNED_AT - 300, 200),  # signed exactly 300 s ahead of our clock
        (SIGNED_AT - 300.001, 401),
    ],
)
async def test_the_tolerance_boundary_over_http(
    integrated_app: FastAPI, ingest: httpx.AsyncClient, now: float, status: int
) -> None:
    def pinned() -> float:
        return now

    setattr(integrated_app.state, SIGNATURE_CLOCK_STATE, pinned)
    body = _body(event("telemetry.heartbeat", capture_session_id="cs-boundary"))
    response = await ingest.post(
        TELEMETRY_PATH, content=body, headers=signed(body, timestamp=SIGNED_AT)
    )
    assert response.status_code == status, response.text
    if status == 401:
        assert response.json()["type"].endswith("/invalid-signature")
    else:
        assert results(response.json()) == ["orphaned"]


async def test_a_signature_among_several_and_a_rotated_secret_are_accepted(
    database_url: str,
) -> None:
    old, new = new_secret(), new_secret()
    app = create_app(make_settings(database_url, telemetry_ingest_secret=f"{old} {new}"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for secret in (old, new):
                body = _body(event("telemetry.heartbeat", capture_session_id="cs-any"))
                headers = signed(body, secret=secret)
                other = signed(body, secret=new_secret(), message_id=headers["webhook-id"])
                headers["webhook-signature"] = (
                    f"{other['webhook-signature']} {headers['webhook-signature']}"
                )
                response = await client.post(TELEMETRY_PATH, content=body, headers=headers)
                assert response.status_code == 200, response.text


async def test_without_a_secret_the_endpoint_is_404(client: httpx.AsyncClient) -> None:
    body = _body(event("telemetry.heartbeat", capture_session_id="cs-1"))
    response = await client.post(TELEMETRY_PATH, content=body, headers=signed(body))
    assert response.status_code == 404
    assert response.json()["type"].endswith("/integration-disabled")


# --- batches ----------------------------------------------------------------------------------


async def test_a_bare_array_is_a_batch_too(ingest: httpx.AsyncClient) -> None:
    body = orjson.dumps([event("telemetry.heartbeat", capture_session_id="cs-arr")])
    response = await ingest.post(TELEMETRY_PATH, content=body, headers=signed(body))
    assert response.status_code == 200, response.text
    assert results(response.json()) == ["orphaned"]


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"{not json", 400, "bad-request"),
        (b'{"events": {}}', 422, "validation-error"),
        (b'"events"', 422, "validation-error"),
        (orjson.dumps({"events": [{}] * 501}), 422, "validation-error"),
    ],
    ids=["not-json", "events-not-a-list", "a-string", "too-many"],
)
async def test_malformed_batches_are_refused_whole(
    ingest: httpx.AsyncClient, body: bytes, status: int, slug: str
) -> None:
    response = await ingest.post(TELEMETRY_PATH, content=body, headers=signed(body))
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith(f"/{slug}")


async def test_each_event_is_answered_on_its_own(ingest: httpx.AsyncClient) -> None:
    await started_capture_setup(ingest, "cs-mixed")
    answer = await send(
        ingest,
        [
            event("capture.started", capture_session_id="cs-mixed"),
            {"type": "telemetry.heartbeat", "data": {"capture_session_id": "cs-mixed"}},
            "not an object",
            event("capture.paused", capture_session_id="cs-mixed"),
            event("sensor.linked", capture_session_id="cs-mixed"),  # no sensor_id
            {"id": "evt-no-time", "type": "telemetry.heartbeat", "data": {}},
            event("telemetry.heartbeat", capture_session_id="bad id with spaces"),
            event("telemetry.heartbeat", capture_session_id="cs-mixed"),
        ],
    )
    assert results(answer) == [
        "applied", "rejected", "rejected", "rejected", "rejected", "rejected", "rejected",
        "applied",
    ]  # fmt: skip
    reasons = [item["reason"] for item in answer["results"]]
    assert reasons[1:7] == [
        "invalid-event", "invalid-event", "unknown-event-type", "invalid-event",
        "invalid-event", "invalid-event",
    ]  # fmt: skip
    assert answer["results"][1]["id"] is None
    assert answer["results"][3]["type"] == "capture.paused"
    assert "sensor_id" in answer["results"][4]["detail"]
    assert (answer["applied"], answer["rejected"], answer["duplicate"]) == (2, 6, 0)


# --- duplicates ---------------------------------------------------------------------------


async def test_a_redelivered_event_is_applied_once(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-dup")
    start = event("capture.started", capture_session_id="cs-dup")
    stop = event("capture.stopped", capture_session_id="cs-dup", reason="done")
    first = await send(ingest, [start, start])
    assert results(first) == ["applied", "duplicate"]
    assert first["results"][1]["original_result"] == "applied"
    second = await send(ingest, [start, stop])
    assert results(second) == ["duplicate", "applied"]
    assert second["results"][0]["original_result"] == "applied"
    third = await send(ingest, [stop])
    assert results(third) == ["duplicate"]
    steps = [(h["from_status"], h["to_status"]) for h in await history(ingest, capture["id"])]
    assert sorted(steps) == [("draft", "running"), ("running", "finished")]


async def test_a_rejected_event_stays_rejected_when_redelivered(
    ingest: httpx.AsyncClient,
) -> None:
    run = await make_run(ingest)  # draft
    capture = await make_capture(ingest, run["id"], capture_session_id="cs-once")
    start = event("capture.started", capture_session_id="cs-once")
    assert results(await send(ingest, [start])) == ["rejected"]
    await ingest.post(f"/v1/runs/{run['id']}/start")
    again = await send(ingest, [start])
    assert results(again) == ["duplicate"]
    assert again["results"][0]["original_result"] == "rejected"
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["status"] == "draft"


async def test_concurrent_deliveries_of_one_event_apply_it_once(
    ingest: httpx.AsyncClient,
) -> None:
    import asyncio

    capture = await started_capture_setup(ingest, "cs-race")
    start = event("capture.started", capture_session_id="cs-race")
    answers = await asyncio.gather(*(send(ingest, [start]) for _ in range(8)))
    assert sorted(results(a)[0] for a in answers) == ["applied"] + ["duplicate"] * 7
    assert len(await history(ingest, capture["id"])) == 1


# --- capture.started / capture.stopped ------------------------------------------------------


async def test_capture_started_applies_under_a_running_run(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-start")
    answer = await send(
        ingest, [event("capture.started", capture_session_id="cs-start", reason="ingest up")]
    )
    assert results(answer) == ["applied"]
    now = await get(ingest, f"/v1/captures/{capture['id']}")
    assert now["status"] == "running"
    assert now["started_at"] is not None
    (entry,) = await history(ingest, capture["id"])
    assert (entry["from_status"], entry["to_status"]) == ("draft", "running")
    assert (entry["source"], entry["actor"], entry["reason"]) == (
        "integration", "telemetry-ingest", "ingest up",
    )  # fmt: skip
    rows = await audit(ingest, capture["id"])
    assert {(row["action"], row["source"], row["actor"]) for row in rows} >= {
        ("start", "integration", "telemetry-ingest")
    }


async def test_capture_started_under_a_draft_run_is_rejected(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest)
    capture = await make_capture(ingest, run["id"], capture_session_id="cs-draft-run")
    answer = await send(ingest, [event("capture.started", capture_session_id="cs-draft-run")])
    assert results(answer) == ["rejected"]
    assert answer["results"][0]["reason"] == "run-not-running"
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["status"] == "draft"
    assert await history(ingest, capture["id"]) == []


async def test_restating_the_current_status_is_applied_without_change(
    ingest: httpx.AsyncClient,
) -> None:
    capture = await started_capture_setup(ingest, "cs-again")
    await ingest.post(f"/v1/captures/{capture['id']}/start")
    answer = await send(ingest, [event("capture.started", capture_session_id="cs-again")])
    assert results(answer) == ["applied"]
    assert answer["results"][0]["detail"] == "capture session already running"
    assert len(await history(ingest, capture["id"])) == 1


async def test_capture_stopped_stops_and_cannot_stop_a_draft(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-stop")
    early = await send(ingest, [event("capture.stopped", capture_session_id="cs-stop")])
    assert early["results"][0]["reason"] == "invalid-transition"
    answer = await send(
        ingest,
        [
            event("capture.started", capture_session_id="cs-stop"),
            event("capture.stopped", capture_session_id="cs-stop", reason="operator"),
            event("capture.stopped", capture_session_id="cs-stop"),
        ],
    )
    assert results(answer) == ["applied", "applied", "applied"]
    assert answer["results"][2]["detail"] == "capture session already finished"
    now = await get(ingest, f"/v1/captures/{capture['id']}")
    assert (now["status"], now["finished_at"] is not None) == ("finished", True)
    assert (await history(ingest, capture["id"]))[0]["reason"] == "operator"


async def test_a_rejected_event_leaves_the_rest_of_its_batch_applied(
    ingest: httpx.AsyncClient,
) -> None:
    run = await make_run(ingest)
    draft_run_capture = await make_capture(ingest, run["id"], capture_session_id="cs-a")
    good = await started_capture_setup(ingest, "cs-b")
    answer = await send(
        ingest,
        [
            event("capture.started", capture_session_id="cs-a"),
            event("capture.started", capture_session_id="cs-b"),
        ],
    )
    assert results(answer) == ["rejected", "applied"]
    assert (await get(ingest, f"/v1/captures/{draft_run_capture['id']}"))["status"] == "draft"
    assert (await get(ingest, f"/v1/captures/{good['id']}"))["status"] == "running"


# --- sensor.linked -----------------------------------------------------------------------------


async def test_sensor_linked_adds_the_sensor(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    capture = await make_capture(
        ingest, run["id"], capture_session_id="cs-sensor", sensors=["cam-1"]
    )
    answer = await send(
        ingest,
        [
            event("sensor.linked", capture_session_id="cs-sensor", sensor_id="lidar-2"),
            event("sensor.linked", capture_session_id="cs-sensor", sensor_id="lidar-2"),
            event("sensor.linked", capture_session_id="cs-sensor", sensor_id="bad sensor!"),
        ],
    )
    assert results(answer) == ["applied", "applied", "rejected"]
    assert answer["results"][1]["detail"] == "sensor already linked"
    now = await get(ingest, f"/v1/captures/{capture['id']}")
    assert now["sensors"] == ["cam-1", "lidar-2"]
    assert now["version"] == capture["version"] + 1
    # The run's linked sensors are its sessions' sensors: the list filter finds it.
    found = await get(ingest, f"/v1/runs/{run['id']}/captures?sensor=lidar-2")
    assert [item["id"] for item in found["items"]] == [capture["id"]]
    runs = await get(ingest, "/v1/runs?sensor=lidar-2")  # runs.sensors, in the same transaction
    assert [item["id"] for item in runs["items"]] == [run["id"]]
    updates = [row for row in await audit(ingest, capture["id"]) if row["action"] == "update"]
    assert updates[0]["changes"]["sensors"] == {
        "before": ["cam-1"], "after": ["cam-1", "lidar-2"],
    }  # fmt: skip
    assert (updates[0]["source"], updates[0]["actor"]) == ("integration", "telemetry-ingest")


async def test_sensor_linked_to_a_closed_session_is_rejected(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-closed")
    await ingest.post(f"/v1/captures/{capture['id']}/start")
    await ingest.post(f"/v1/captures/{capture['id']}/stop")
    answer = await send(
        ingest, [event("sensor.linked", capture_session_id="cs-closed", sensor_id="s-1")]
    )
    assert answer["results"][0]["reason"] == "capture-closed"
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["sensors"] == []


# --- telemetry.heartbeat -------------------------------------------------------------------


async def test_a_heartbeat_moves_last_telemetry_and_the_run_heartbeat_forward(
    ingest: httpx.AsyncClient,
) -> None:
    capture = await started_capture_setup(ingest, "cs-beat")
    await ingest.post(f"/v1/captures/{capture['id']}/start")
    seen = datetime.now(UTC) - timedelta(seconds=30)
    earlier = seen - timedelta(seconds=20)
    answer = await send(
        ingest,
        [
            event(
                "telemetry.heartbeat", capture_session_id="cs-beat", last_data_at=seen.isoformat()
            ),
            event(
                "telemetry.heartbeat",
                capture_session_id="cs-beat",
                last_data_at=earlier.isoformat(),
            ),
        ],
    )
    assert results(answer) == ["applied", "applied"]
    now = await get(ingest, f"/v1/captures/{capture['id']}")
    assert datetime.fromisoformat(now["last_telemetry_at"]) == seen
    assert now["version"] == capture["version"] + 1  # the start; heartbeats are not versioned
    run = await get(ingest, f"/v1/runs/{capture['run_id']}")
    assert datetime.fromisoformat(run["last_heartbeat_at"]) == seen
    # Late, older heartbeats never move it back.
    await send(
        ingest,
        [
            event(
                "telemetry.heartbeat",
                capture_session_id="cs-beat",
                last_data_at=earlier.isoformat(),
            )
        ],
    )
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["last_telemetry_at"] == now[
        "last_telemetry_at"
    ]


async def test_a_heartbeat_from_the_future_counts_as_now(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-future")
    ahead = datetime.now(UTC) + timedelta(hours=1)
    await send(ingest, [event("telemetry.heartbeat", capture_session_id="cs-future", at=ahead)])
    seen = (await get(ingest, f"/v1/captures/{capture['id']}"))["last_telemetry_at"]
    assert datetime.fromisoformat(seen) < ahead - timedelta(minutes=50)


async def test_a_heartbeat_of_a_draft_run_leaves_the_run_alone(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest)
    capture = await make_capture(ingest, run["id"], capture_session_id="cs-draft-beat")
    await send(ingest, [event("telemetry.heartbeat", capture_session_id="cs-draft-beat")])
    assert (await get(ingest, f"/v1/captures/{capture['id']}"))["last_telemetry_at"] is not None
    assert (await get(ingest, f"/v1/runs/{run['id']}"))["last_heartbeat_at"] is None


async def test_heartbeats_write_no_events_or_audit(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-quiet")
    before = await audit(ingest, capture["id"])
    await send(ingest, [event("telemetry.heartbeat", capture_session_id="cs-quiet")] * 1)
    assert await audit(ingest, capture["id"]) == before


async def test_heartbeats_are_written_to_the_second(ingest: httpx.AsyncClient) -> None:
    capture = await started_capture_setup(ingest, "cs-resolution")
    await ingest.post(f"/v1/captures/{capture['id']}/start")
    base = datetime.now(UTC) - timedelta(minutes=1)
    for offset, expected in ((0.0, 0.0), (0.5, 0.0), (2.0, 2.0)):
        at = (base + timedelta(seconds=offset)).isoformat()
        beat = event("telemetry.heartbeat", capture_session_id="cs-resolution", last_data_at=at)
        assert results(await send(ingest, [beat])) == ["applied"]
        for path in (f"/v1/captures/{capture['id']}", f"/v1/runs/{capture['run_id']}"):
            body = await get(ingest, path)
            seen = body.get("last_telemetry_at") or body["last_heartbeat_at"]
            assert datetime.fromisoformat(seen) == base + timedelta(seconds=expected)
