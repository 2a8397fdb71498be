"""``expsvc worker`` as real processes: two reapers share the work, SIGTERM finishes the batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRET_KEY
from tests.liveness.support import FAIL_HISTORY, execute, fetch, insert_running_runs
from tests.services import free_port

pytestmark = pytest.mark.process

START_DEADLINE = 30.0
STOP_DEADLINE = 15.0

# Makes every run the reaper fails take ~20 ms inside its batch transaction, so a batch is slow
# enough to be caught in the middle.
SLOW_HISTORY = """
CREATE FUNCTION test_slow_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$;
CREATE TRIGGER test_slow_history BEFORE INSERT ON status_history
    FOR EACH ROW EXECUTE FUNCTION test_slow_history();
"""


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def job_metric(self, name: str, job: str = "run-reaper", **labels: str) -> float:
        assert self.process.poll() is None, f"worker exited:\n{self.output()}"
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name
            and sample.labels.get("job") == job
            and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    """Start ``expsvc worker`` processes, returned once their reaper has made its first pass."""
    workers: list[Worker] = []

    def start(database_url: str, **extra: str) -> Worker:
        env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
        env |= {
            "EXPSVC_DATABASE_URL": database_url,
            "EXPSVC_SECRET_KEYS": TEST_SECRET_KEY,  # the deliverer opens webhook secrets
            "EXPSVC_LOG_FORMAT": "console",
            "EXPSVC_LOG_LEVEL": "INFO",
            "EXPSVC_REAPER_INTERVAL_SECONDS": "0.1",
            **extra,
        }
        port = free_port()
        log = tmp_path / f"worker-{len(workers)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "expsvc", "worker", "--metrics-port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log, port)
        workers.append(worker)
        until = time.monotonic() + START_DEADLINE
        while True:
            try:
                if worker.job_metric("expsvc_job_runs_total") > 0:
                    return worker
            except httpx.TransportError:
                pass
            assert time.monotonic() < until, f"the reaper never ran:\n{worker.output()}"
            time.sleep(0.05)

    yield start
    for worker in workers:
        worker.stop()


async def wait_for(database_url: str, query: str, expected: int, deadline: float = 60) -> None:
    until = time.monotonic() + deadline
    while True:
        value = await fetch(database_url, query)
        if value == expected:
            return
        assert time.monotonic() < until, f"{query!r} is {value}, not {expected}"
        await asyncio.sleep(0.1)


async def test_two_workers_reap_each_stuck_run_exactly_once(
    database_url: str, start_worker: Any
) -> None:
    await execute(database_url, SLOW_HISTORY.format(seconds=0.002))
    workers = [start_worker(database_url, EXPSVC_REAPER_BATCH_SIZE="20") for _ in range(2)]

    await insert_running_runs(database_url, 1000)
    await wait_for(database_url, "SELECT count(*) FROM runs WHERE status = 'failed'", 1000)

    assert await fetch(database_url, FAIL_HISTORY) == 1000
    assert await fetch(database_url, "SELECT count(*) FROM audit_log WHERE action = 'fail'") == 1000
    most = await fetch(
        database_url,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM status_history"
        " WHERE entity_type = 'run' GROUP BY entity_id) AS counts",
    )
    assert most == 1  # one history row per run: none was failed twice
    reaped = [w.job_metric("expsvc_job_items_total") for w in workers]
    assert sum(reaped) == 1000
    assert all(count > 0 for count in reaped), reaped  # both took part


async def test_sigterm_finishes_the_current_batch_and_exits_zero(
    database_url: str, start_worker: Any
) -> None:
    await execute(database_url, SLOW_HISTORY.format(seconds=0.02))
    worker = start_worker(database_url, EXPSVC_REAPER_BATCH_SIZE="50")
    await insert_running_runs(database_url, 500)

    # Mid-batch: the worker's transaction is inside the trigger's pg_sleep.
    until = time.monotonic() + 30
    while not await fetch(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
        " AND datname = current_database()",
    ):
        assert time.monotonic() < until, worker.output()
        await asyncio.sleep(0.01)
    worker.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code = await asyncio.to_thread(worker.process.wait, STOP_DEADLINE)
    assert code == 0, worker.output()
    assert time.monotonic() - started < STOP_DEADLINE

    failed = await fetch(database_url, "SELECT count(*) FROM runs WHERE status = 'failed'")
    assert failed % 50 == 0, failed  # whole batches only
    assert 50 <= failed < 500, failed  # the batch in flight finished; no new one started
    assert await fetch(database_url, FAIL_HISTORY) == failed
    assert (
        await fetch(database_url, "SELECT count(*) FROM audit_log WHERE action = 'fail'") == failed
    )
    events = await fetch(
        database_url, "SELECT count(*) FROM outbox_events WHERE type = 'run.failed'"
    )
    assert events == failed
    assert "worker stopped" in worker.output()


async def test_a_worker_with_nothing_to_do_stops_at_once(
    database_url: str, start_worker: Any
) -> None:
    worker = start_worker(database_url)
    worker.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert await asyncio.to_thread(worker.process.wait, STOP_DEADLINE) == 0, worker.output()
    assert time.monotonic() - started < 5
