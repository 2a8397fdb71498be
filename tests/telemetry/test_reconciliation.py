"""The capture reconciliation pass, each rule, Ingest's status API (a real fake server) and the
report at GET /v1/captures/reconciliation."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.telemetry.reconciliation import reconcile
from tests.capture.support import history, make_capture, make_run
from tests.conftest import make_settings
from tests.telemetry.fake_ingest import FakeIngest
from tests.telemetry.support import TELEMETRY_SECRET, event, results, send

LOST_AFTER = 600
# A run closed behind the service's back (a bug or a hand-made fix), its end time set as the
# lifecycle's checks require (migration 0022).
_FINISH_RUN = "UPDATE runs SET status = 'finished', finished_at = now() WHERE id = $1"


@pytest.fixture
def fake_ingest() -> Iterator[FakeIngest]:
    server = FakeIngest().start()
    try:
        yield server
    finally:
        server.stop()


class Harness:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
        self.app, self.client, self.database_url = app, client, database_url

    async def reconcile(self) -> dict[str, Any]:
        changed = await reconcile(self.app.state.database, self.app.state.settings)
        assert changed is not None
        response = await self.client.get("/v1/captures/reconciliation")
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report

    async def sql(self, statement: str, *args: Any) -> None:
        connection = await asyncpg.connect(self.database_url)
        try:
            await connection.execute(statement, *args)
        finally:
            await connection.close()

    async def running_capture(self, capture_session_id: str, **fields: Any) -> dict[str, Any]:
        run = await make_run(self.client, "start")
        capture = await make_capture(
            self.client, run["id"], "start", capture_session_id=capture_session_id, **fields
        )
        return capture

    async def capture(self, capture_id: str) -> dict[str, Any]:
        body: dict[str, Any] = (await self.client.get(f"/v1/captures/{capture_id}")).json()
        return body


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@contextlib.asynccontextmanager
async def running_app(database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    values: dict[str, Any] = {
        "telemetry_ingest_secret": TELEMETRY_SECRET,
        "telemetry_lost_after_seconds": LOST_AFTER,
        "capture_reconcile_interval_seconds": 0,
    }
    app = create_app(make_settings(database_url, **{**values, **overrides}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Harness(app, client, database_url)


@pytest.fixture
async def harness(database_url: str, overrides: dict[str, Any]) -> AsyncIterator[Harness]:
    async with running_app(database_url, **overrides) as running:
        yield running


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


async def test_no_report_before_the_first_pass(harness: Harness) -> None:
    response = await harness.client.get("/v1/captures/reconciliation")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/reconciliation-report-not-found")


async def test_a_quiet_pass_reports_nothing_to_do(harness: Harness) -> None:
    await harness.running_capture("cs-fine")
    report = await harness.reconcile()
    assert report["stopped_run_closed"] == {"count": 0, "capture_ids": []}
    assert report["failed_telemetry_lost"]["count"] == 0
    assert report["ingest"]["status"] == "disabled"
    assert report["orphans"] == {"count": 0, "events": 0, "items": []}
    assert report["started_at"] <= report["finished_at"]


async def test_running_sessions_of_ended_runs_are_stopped(harness: Harness) -> None:
    capture = await harness.running_capture("cs-run-ended")
    other = await harness.running_capture("cs-run-alive")
    # Only a bug or a hand-made fix can leave this state; the pass repairs it.
    await harness.sql(_FINISH_RUN, _uuid(capture["run_id"]))
    report = await harness.reconcile()
    assert report["stopped_run_closed"] == {"count": 1, "capture_ids": [capture["id"]]}
    now = await harness.capture(capture["id"])
    assert now["status"] == "finished"
    (entry, _) = await history(harness.client, capture["id"])
    assert (entry["to_status"], entry["source"], entry["reason"]) == (
        "finished", "worker", "run_closed",
    )  # fmt: skip
    assert (await harness.capture(other["id"]))["status"] == "running"
    # Idempotent: the next pass has nothing to do.
    assert (await harness.reconcile())["stopped_run_closed"]["count"] == 0


async def test_sessions_without_telemetry_are_failed(harness: Harness) -> None:
    silent = await harness.running_capture("cs-silent")
    never = await harness.running_capture("cs-never")
    fresh = await harness.running_capture("cs-fresh")
    new = await harness.running_capture("cs-new")  # started just now, no telemetry yet
    answer = await send(
        harness.client,
        [
            event("telemetry.heartbeat", capture_session_id="cs-silent", last_data_at=ago(3600)),
            event("telemetry.heartbeat", capture_session_id="cs-fresh", last_data_at=ago(10)),
        ],
    )
    assert results(answer) == ["applied", "applied"]
    await harness.sql(
        "UPDATE capture_sessions SET started_at = now() - interval '2 hours' WHERE id = $1",
        _uuid(never["id"]),
    )
    report = await harness.reconcile()
    assert report["failed_telemetry_lost"]["count"] == 2
    assert set(report["failed_telemetry_lost"]["capture_ids"]) == {silent["id"], never["id"]}
    for capture in (silent, never):
        now = await harness.capture(capture["id"])
        assert (now["status"], now["failure_reason"]) == ("failed", "telemetry_lost")
    for capture in (fresh, new):
        assert (await harness.capture(capture["id"]))["status"] == "running"
    entry = (await history(harness.client, silent["id"]))[0]
    assert (entry["source"], entry["actor"], entry["reason"]) == (
        "worker", "expsvc-worker", "telemetry_lost",
    )  # fmt: skip
    # The business metrics say the same (docs/slo.md).
    registry = harness.app.state.metrics.registry
    failed = {"entity": "capture", "action": "fail", "source": "worker", "reason": "telemetry_lost"}
    assert registry.get_sample_value("expsvc_transitions_total", failed) == 2
    drift = registry.get_sample_value(
        "expsvc_capture_drift_found_total", {"kind": "telemetry_lost"}
    )
    assert drift == 2
    inbound = {"source": "telemetry-ingest", "outcome": "applied"}
    assert registry.get_sample_value("expsvc_inbound_events_total", inbound) == 2


async def test_a_session_a_request_holds_is_left_for_the_next_pass(harness: Harness) -> None:
    capture = await harness.running_capture("cs-held")
    await harness.sql(
        "UPDATE capture_sessions SET started_at = now() - interval '2 hours' WHERE id = $1",
        _uuid(capture["id"]),
    )
    holder = await asyncpg.connect(harness.database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM capture_sessions WHERE id = $1 FOR NO KEY UPDATE", _uuid(capture["id"])
        )
        report = await asyncio.wait_for(harness.reconcile(), 30)  # skipped, not waited for
        assert report["failed_telemetry_lost"]["count"] == 0
        await transaction.rollback()
    finally:
        await holder.close()
    assert (await harness.capture(capture["id"]))["status"] == "running"

    report = await harness.reconcile()
    assert report["failed_telemetry_lost"]["capture_ids"] == [capture["id"]]
    failed = await history(harness.client, capture["id"])
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in failed[:1]] == [
        ("running", "failed", "telemetry_lost")
    ]


@pytest.mark.parametrize("overrides", [{"telemetry_lost_after_seconds": 0}])
async def test_telemetry_loss_can_be_switched_off(harness: Harness) -> None:
    capture = await harness.running_capture("cs-off")
    await send(
        harness.client,
        [event("telemetry.heartbeat", capture_session_id="cs-off", last_data_at=ago(86400))],
    )
    assert (await harness.reconcile())["failed_telemetry_lost"]["count"] == 0
    assert (await harness.capture(capture["id"]))["status"] == "running"


async def test_events_for_unknown_sessions_are_kept_as_orphans_and_reported(
    harness: Harness,
) -> None:
    ingest = harness.client
    answer = await send(
        ingest,
        [
            event("capture.started", capture_session_id="ghost-1"),
            event("telemetry.heartbeat", capture_session_id="ghost-1"),
            event("sensor.linked", capture_session_id="ghost-2", sensor_id="s-9"),
        ],
    )
    assert results(answer) == ["orphaned"] * 3
    await send(ingest, [event("telemetry.heartbeat", capture_session_id="ghost-1")])
    run = await make_run(ingest, "start")
    await make_capture(ingest, run["id"], capture_session_id="ghost-2")  # it turns up later

    orphans = (await harness.reconcile())["orphans"]
    assert (orphans["count"], orphans["events"]) == (2, 4)
    by_id = {item["capture_session_id"]: item for item in orphans["items"]}
    assert by_id["ghost-1"]["events"] == 3
    assert by_id["ghost-1"]["event_types"] == ["capture.started", "telemetry.heartbeat"]
    assert by_id["ghost-1"]["capture_exists"] is False
    assert by_id["ghost-2"]["capture_exists"] is True


# --- Telemetry Ingest's status API -----------------------------------------------------------


@pytest.fixture
def ingest_overrides(fake_ingest: FakeIngest) -> dict[str, Any]:
    return {"telemetry_ingest_url": fake_ingest.url + "/", "telemetry_ingest_token": "t0ken"}


@pytest.fixture
async def pulled(database_url: str, ingest_overrides: dict[str, Any]) -> AsyncIterator[Harness]:
    async with running_app(database_url, **ingest_overrides) as running:
        yield running


async def test_sessions_ingest_has_stopped_are_stopped(
    pulled: Harness, fake_ingest: FakeIngest
) -> None:
    stopped = await pulled.running_capture("cs-ingest-stopped")
    running = await pulled.running_capture("cs-ingest-running")
    unknown = await pulled.running_capture("cs-ingest-unknown")
    fake_ingest.say("cs-ingest-stopped", "stopped", stopped_at=ago(5))
    fake_ingest.say("cs-ingest-running", "running", last_data_at=ago(1))
    report = await pulled.reconcile()
    assert report["stopped_in_ingest"] == {"count": 1, "capture_ids": [stopped["id"]]}
    assert report["ingest"]["status"] == "ok"
    assert report["ingest"]["checked"] == 3
    assert report["ingest"]["unknown_to_ingest"] == ["cs-ingest-unknown"]
    assert report["ingest"]["unknown_to_ingest_count"] == 1
    assert report["ingest"]["telemetry_refreshed"] == 1
    assert (await pulled.capture(stopped["id"]))["status"] == "finished"
    entry = (await history(pulled.client, stopped["id"]))[0]
    assert (entry["source"], entry["reason"]) == ("worker", "ingest_stopped")
    assert (await pulled.capture(running["id"]))["status"] == "running"
    assert (await pulled.capture(unknown["id"]))["status"] == "running"
    # The request named every running session and carried the token.
    ids, headers = fake_ingest.requests[0]
    assert sorted(ids) == ["cs-ingest-running", "cs-ingest-stopped", "cs-ingest-unknown"]
    assert headers["authorization"] == "Bearer t0ken"


async def test_ingest_data_keeps_a_session_from_counting_as_lost(
    pulled: Harness, fake_ingest: FakeIngest
) -> None:
    capture = await pulled.running_capture("cs-push-lost")
    # Our last push is old, but Ingest saw data a moment ago (the push got lost).
    await send(
        pulled.client,
        [event("telemetry.heartbeat", capture_session_id="cs-push-lost", last_data_at=ago(3600))],
    )
    seen = ago(2)
    fake_ingest.say("cs-push-lost", "running", last_data_at=seen)
    report = await pulled.reconcile()
    assert report["failed_telemetry_lost"]["count"] == 0
    now = await pulled.capture(capture["id"])
    assert (now["status"], now["last_telemetry_at"][:19]) == ("running", seen[:19])
    run = (await pulled.client.get(f"/v1/runs/{capture['run_id']}")).json()
    assert run["last_heartbeat_at"][:19] == seen[:19]


async def test_many_sessions_are_asked_about_in_pages(
    pulled: Harness, fake_ingest: FakeIngest
) -> None:
    run = await make_run(pulled.client, "start")
    for i in range(130):
        await make_capture(pulled.client, run["id"], "start", capture_session_id=f"cs-{i:03}")
        fake_ingest.say(f"cs-{i:03}", "stopped" if i % 10 == 0 else "running", last_data_at=ago(1))
    report = await pulled.reconcile()
    assert [len(ids) for ids, _ in fake_ingest.requests] == [100, 30]
    assert report["ingest"]["checked"] == 130
    assert report["stopped_in_ingest"]["count"] == 13


async def test_when_ingest_is_down_the_pass_reports_it_and_goes_on(
    pulled: Harness, fake_ingest: FakeIngest
) -> None:
    fake_ingest.failing = 503
    ended = await pulled.running_capture("cs-down-ended")
    await pulled.sql(
        "UPDATE runs SET status = 'failed', finished_at = now() WHERE id = $1",
        _uuid(ended["run_id"]),
    )
    lost = await pulled.running_capture("cs-down-lost")
    await send(
        pulled.client,
        [event("telemetry.heartbeat", capture_session_id="cs-down-lost", last_data_at=ago(7200))],
    )
    report = await pulled.reconcile()
    assert report["ingest"]["status"] == "error"
    assert "503" in report["ingest"]["error"]
    assert report["stopped_run_closed"]["capture_ids"] == [ended["id"]]
    assert report["failed_telemetry_lost"]["capture_ids"] == [lost["id"]]
    # Ingest back: the next pass is clean again.
    fake_ingest.failing = None
    assert (await pulled.reconcile())["ingest"]["status"] == "ok"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "ingest_overrides",
    [{"telemetry_ingest_url": f"http://127.0.0.1:{_closed_port()}"}],
    ids=["connection-refused"],
)
async def test_an_unreachable_ingest_is_reported(pulled: Harness) -> None:
    await pulled.running_capture("cs-unreachable")
    report = await pulled.reconcile()
    assert report["ingest"]["status"] == "error"
    assert report["ingest"]["error"].startswith("ConnectError")


async def test_an_unexpected_answer_is_reported(pulled: Harness, fake_ingest: FakeIngest) -> None:
    await pulled.running_capture("cs-garbled")
    fake_ingest.say("cs-garbled", "running", last_data_at="yesterday")
    report = await pulled.reconcile()
    assert report["ingest"]["status"] == "error"
    assert "unexpected body" in report["ingest"]["error"]


# --- one at a time, housekeeping, the worker ---------------------------------------------


async def test_one_pass_at_a_time(harness: Harness) -> None:
    from expsvc.telemetry.reconciliation import LOCK_ID

    connection = await asyncpg.connect(harness.database_url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
        assert await reconcile(harness.app.state.database, harness.app.state.settings) is None
        await connection.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
        assert await reconcile(harness.app.state.database, harness.app.state.settings) == 0
    finally:
        await connection.close()


async def test_concurrent_passes_do_not_both_run(harness: Harness) -> None:
    outcomes = await asyncio.gather(
        *(reconcile(harness.app.state.database, harness.app.state.settings) for _ in range(4))
    )
    assert 0 in outcomes
    assert set(outcomes) <= {0, None}


async def test_old_inbox_ids_and_orphans_are_forgotten(harness: Harness) -> None:
    beat = event("telemetry.heartbeat", capture_session_id="cs-forgotten")
    assert results(await send(harness.client, [beat])) == ["orphaned"]
    assert results(await send(harness.client, [beat])) == ["duplicate"]
    await harness.sql("UPDATE integration_inbox SET received_at = now() - interval '8 days'")
    await harness.sql("UPDATE orphan_telemetry SET last_seen_at = now() - interval '8 days'")
    report = await harness.reconcile()
    assert report["purged"] == {"inbox_events": 1, "orphans": 1}
    assert report["orphans"]["count"] == 0
    # Past retention, a redelivery is no longer recognised.
    assert results(await send(harness.client, [beat])) == ["orphaned"]


async def test_only_the_last_reports_are_kept(harness: Harness) -> None:
    from expsvc.telemetry.reconciliation import KEEP_REPORTS

    for _ in range(3):
        await harness.reconcile()
    connection = await asyncpg.connect(harness.database_url)
    try:
        count = await connection.fetchval("SELECT count(*) FROM capture_reconciliation_reports")
    finally:
        await connection.close()
    assert count == min(3, KEEP_REPORTS)
    report = await harness.reconcile()
    assert report["id"] == 4


def _uuid(value: str) -> Any:
    import uuid

    return uuid.UUID(value)


@pytest.mark.parametrize("overrides", [{"capture_reconcile_interval_seconds": 0.2}])
async def test_the_worker_reconciles_periodically(harness: Harness) -> None:
    capture = await harness.running_capture("cs-periodic")
    await harness.sql(_FINISH_RUN, _uuid(capture["run_id"]))
    stop = asyncio.get_running_loop().time() + 10
    while (await harness.capture(capture["id"]))["status"] == "running":
        assert asyncio.get_running_loop().time() < stop, "no reconciliation pass came"
        await asyncio.sleep(0.05)
    entry = (await history(harness.client, capture["id"]))[0]
    assert (entry["source"], entry["reason"]) == ("worker", "run_closed")
    # The pass stores its report after it has closed what it found (its own transaction), so
    # the report of that pass can lag the stopped session (an earlier pass's report, or none,
    # is the last one meanwhile): wait for it, with a deadline.
    while capture["id"] not in await _last_stopped_run_closed(harness):
        assert asyncio.get_running_loop().time() < stop, "no report names the stopped session"
        await asyncio.sleep(0.05)


async def _last_stopped_run_closed(harness: Harness) -> list[str]:
    response = await harness.client.get("/v1/captures/reconciliation")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["stopped_run_closed"]["capture_ids"]
    return ids


def test_the_job_is_registered_unless_switched_off(database_url: str) -> None:
    from prometheus_client import CollectorRegistry

    from expsvc.db import Database, create_engine
    from expsvc.worker.jobs import build_work
    from expsvc.worker.runtime import WorkerContext

    for interval, expected in ((60.0, True), (0.0, False)):
        settings = make_settings(database_url, capture_reconcile_interval_seconds=interval)
        database = Database(create_engine(settings, database_url))
        context = WorkerContext(settings, database, CollectorRegistry(), in_app=False)
        names = [work.name for work in build_work(context)]
        assert ("capture-reconciliation" in names) is expected
