"""The generated client SDK (clients/python) against a real uvicorn process on PostgreSQL.

Walks one run through its life with nothing but SDK calls: create experiment → create run →
start run → create capture session → start capture → stop capture → finish run, then reads the
three status histories. Needs ``pip install -e clients/python`` (CI does it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from expsvc_client import Client
from expsvc_client.api.captures import (
    create_capture,
    get_capture,
    get_capture_history,
    start_capture,
    stop_capture,
)
from expsvc_client.api.experiments import create_experiment, get_experiment_history
from expsvc_client.api.runs import (
    create_run_in_experiment,
    finish_run,
    get_run,
    get_run_history,
    start_run,
)
from expsvc_client.models import (
    CaptureCreate,
    CaptureRead,
    ExperimentCreate,
    ExperimentRead,
    Problem,
    RunCreate,
    RunRead,
    Source,
    Status,
    StatusHistoryPage,
)
from expsvc_client.types import Response

from tests.conftest import TEST_SECRET_KEY

pytestmark = pytest.mark.process

START_DEADLINE = 60.0
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``uvicorn expsvc.app:create_app_from_environment`` on a free port and the test's database."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
    env |= {
        "EXPSVC_DATABASE_URL": database_url,
        "EXPSVC_SECRET_KEYS": TEST_SECRET_KEY,
        "EXPSVC_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "expsvc.app:create_app_from_environment"]
    command += ["--factory", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    until = time.monotonic() + START_DEADLINE
    while time.monotonic() < until:
        if process.poll() is not None:
            pytest.fail(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"uvicorn never became ready:\n{log.read_text()[-4000:]}")


def ok(response: Response[Any], expected: type[T]) -> T:
    """The parsed body of a successful SDK call, or a failure that shows the problem."""
    parsed = response.parsed
    assert isinstance(parsed, expected), (response.status_code, response.content)
    return parsed


def transitions(page: Any) -> list[tuple[Status, Status, Source]]:
    """(from, to, source) of a history page, oldest first."""
    history = ok(page, StatusHistoryPage)
    return [(c.from_status, c.to_status, c.source) for c in reversed(history.items)]


def test_a_run_with_a_capture_session_through_the_sdk(base_url: str) -> None:
    with Client(base_url=base_url, raise_on_unexpected_status=True, timeout=30) as client:
        created = create_experiment.sync_detailed(
            client=client, body=ExperimentCreate(name="sdk e2e", tags=["sdk"])
        )
        experiment = ok(created, ExperimentRead)
        assert created.status_code == 201
        assert experiment.status is Status.DRAFT

        run_body = RunCreate(name="first")
        first = create_run_in_experiment.sync_detailed(
            experiment.id, client=client, body=run_body, idempotency_key="sdk-e2e-run"
        )
        run = ok(first, RunRead)
        replayed = create_run_in_experiment.sync_detailed(
            experiment.id, client=client, body=run_body, idempotency_key="sdk-e2e-run"
        )
        assert ok(replayed, RunRead).id == run.id
        assert replayed.headers.get("Idempotent-Replayed") == "true"

        # A stale ETag is refused with a problem the SDK parses.
        stale = start_run.sync_detailed(run.id, client=client, if_match='"999"')
        assert stale.status_code == 412
        assert isinstance(stale.parsed, Problem)
        assert stale.parsed.status == 412

        etag = get_run.sync_detailed(run.id, client=client).headers["ETag"]
        started = ok(start_run.sync_detailed(run.id, client=client, if_match=etag), RunRead)
        assert started.status is Status.RUNNING

        capture = ok(
            create_capture.sync_detailed(
                run.id, client=client, body=CaptureCreate(sensors=["cam-1", "imu-2"])
            ),
            CaptureRead,
        )
        assert ok(start_capture.sync_detailed(capture.id, client=client), CaptureRead).status is (
            Status.RUNNING
        )
        stopped = ok(stop_capture.sync_detailed(capture.id, client=client), CaptureRead)
        assert stopped.status is Status.FINISHED

        finished = ok(finish_run.sync_detailed(run.id, client=client), RunRead)
        assert finished.status is Status.FINISHED
        assert ok(get_capture.sync_detailed(capture.id, client=client), CaptureRead).status is (
            Status.FINISHED
        )

        # Finishing a finished run: 409 with the allowed actions, as a parsed problem.
        again = finish_run.sync_detailed(run.id, client=client)
        assert again.status_code == 409
        assert isinstance(again.parsed, Problem)
        assert again.parsed.additional_properties["allowed_actions"] == ["archive"]

        user = Source.USER
        assert transitions(get_run_history.sync_detailed(run.id, client=client)) == [
            (Status.DRAFT, Status.RUNNING, user),
            (Status.RUNNING, Status.FINISHED, user),
        ]
        assert transitions(get_capture_history.sync_detailed(capture.id, client=client)) == [
            (Status.DRAFT, Status.RUNNING, user),
            (Status.RUNNING, Status.FINISHED, user),
        ]
        assert transitions(get_experiment_history.sync_detailed(experiment.id, client=client)) == [
            (Status.DRAFT, Status.RUNNING, Source.SYSTEM),
        ]
