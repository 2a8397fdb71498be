"""``expsvc telemetry replay`` against a live ``expsvc serve`` process, both real processes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from expsvc.telemetry.replay import ReplayStats
from tests.conftest import TEST_SECRET_KEY
from tests.telemetry.support import TELEMETRY_SECRET, event
from tests.test_serve_process import Serve, Spawn, free_port, service_env, spawn

pytestmark = pytest.mark.process
__all__ = ["spawn"]


@pytest.fixture
def live(spawn: Spawn, database_url: str, tmp_path: Path) -> Serve:
    env = service_env(
        tmp_path / "data",
        free_port(),
        EXPSVC_DATABASE_URL=database_url,
        EXPSVC_SECRET_KEYS=TEST_SECRET_KEY,
        EXPSVC_TELEMETRY_INGEST_SECRET=TELEMETRY_SECRET,
        EXPSVC_RELAY_ENABLED="false",
        EXPSVC_CAPTURE_RECONCILE_INTERVAL_SECONDS="0",
        EXPSVC_LOG_LEVEL="WARNING",
    )
    server = spawn(env)
    server.wait_answering(200)
    return server


def run_replay(server: Serve, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **service_env(Path("/nonexistent"), 0),
        "EXPSVC_TELEMETRY_INGEST_SECRET": TELEMETRY_SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "expsvc", "telemetry", "replay", "--url", server.base_url, *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def captures(server: Serve, **params: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.base_url}/v1/captures", params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_generated_heartbeats_at_a_fixed_rate(live: Serve) -> None:
    done = run_replay(
        live, "--rate", "40", "--duration", "1.5", "--batch-size", "5", "--sessions", "4",
        "--create-sessions",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"requests\s+│?\s*60 in", out), out  # 40/s for 1.5 s
    assert re.search(r"events\s+│?\s*300", out), out
    for name in ("p50", "p95", "p99", "max"):
        assert f"latency {name}" in out
    assert "applied: 300" in out
    assert "errors" in out
    sessions = [
        c for c in captures(live, status="running") if c["capture_session_id"].startswith("replay-")
    ]
    assert len(sessions) == 4
    assert all(c["last_telemetry_at"] is not None for c in sessions)


def test_a_recorded_file_replays_as_recorded(live: Serve, tmp_path: Path) -> None:
    recording = tmp_path / "telemetry.jsonl"
    events = [event("telemetry.heartbeat", capture_session_id=f"rec-{i % 3}") for i in range(12)]
    recording.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    first = run_replay(
        live, "--file", str(recording), "--as-recorded", "--rate", "20", "--batch-size", "4"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "orphaned: 12" in first.stdout  # nobody has these sessions
    again = run_replay(
        live, "--file", str(recording), "--as-recorded", "--rate", "20", "--batch-size", "4"
    )
    assert "duplicate: 12" in again.stdout
    fresh = run_replay(live, "--file", str(recording), "--rate", "20", "--batch-size", "4")
    assert "orphaned: 12" in fresh.stdout


def test_errors_are_counted_and_fail_the_run(live: Serve) -> None:
    env_secret = "whsec_" + "A" * 44  # not the service's secret: every request is 401
    done = subprocess.run(
        [sys.executable, "-m", "expsvc", "telemetry", "replay", "--url", live.base_url,
         "--rate", "20", "--duration", "0.5"],
        env={**service_env(Path("/nonexistent"), 0), "EXPSVC_TELEMETRY_INGEST_SECRET": env_secret,
             "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "HTTP 401: 10" in done.stdout


def test_percentiles_are_nearest_rank() -> None:
    stats = ReplayStats(latencies=[i / 1000 for i in range(1, 101)])
    assert stats.percentile(0.5) == 0.05
    assert stats.percentile(0.95) == 0.095
    assert stats.percentile(0.99) == 0.099
    assert stats.percentile(1.0) == 0.1
    assert ReplayStats().percentile(0.5) is None
