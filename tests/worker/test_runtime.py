"""The worker runtime: intervals, singleton locks, batches, shutdown, failures and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from prometheus_client import CollectorRegistry

from expsvc.db import Database
from expsvc.settings import Settings
from expsvc.worker.metrics import JobMetrics
from expsvc.worker.runtime import Job, JobRunner, Loop, lock_id_for

FAST = 0.02


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def runner_for(database: Database, *work: Job | Loop, grace: float = 10.0) -> JobRunner:
    return JobRunner(database, work, JobMetrics(CollectorRegistry()), shutdown_grace=grace)


async def wait_until(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    """Poll with a deadline: the jobs run on their own schedule."""
    async with asyncio.timeout(deadline):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_a_job_runs_every_interval_and_counts_its_items(database: Database) -> None:
    calls: list[int] = []

    async def job() -> int:
        calls.append(1)
        return 3

    runner = runner_for(database, Job("counting", FAST, job))
    async with runner:
        await wait_until(lambda: len(calls) >= 3)
        assert any(t.get_name() == "counting" for t in asyncio.all_tasks())
    registry = runner.metrics.registry
    assert sample(registry, "expsvc_job_runs_total", job="counting", outcome="ok") == len(calls)
    assert sample(registry, "expsvc_job_items_total", job="counting") == 3 * len(calls)
    assert sample(registry, "expsvc_job_duration_seconds_count", job="counting") == len(calls)
    assert sample(registry, "expsvc_job_last_success_timestamp_seconds", job="counting") > 0
    assert not any(t.get_name() == "counting" for t in asyncio.all_tasks())


async def test_the_first_pass_waits_an_interval_unless_run_at_start(database: Database) -> None:
    calls: list[str] = []

    async def job(name: str) -> int:
        calls.append(name)
        return 0

    async with runner_for(
        database,
        Job("later", 60, lambda: job("later")),
        Job("now", 60, lambda: job("now"), run_at_start=True),
    ):
        await wait_until(lambda: "now" in calls)
        await asyncio.sleep(0.1)
    assert calls == ["now"]


async def test_a_failing_pass_is_counted_and_the_job_keeps_running(database: Database) -> None:
    calls: list[int] = []

    async def job() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return 1

    runner = runner_for(database, Job("flaky", FAST, job))
    async with runner:
        await wait_until(lambda: len(calls) >= 2)
    registry = runner.metrics.registry
    assert sample(registry, "expsvc_job_failures_total", job="flaky") == 1
    assert sample(registry, "expsvc_job_runs_total", job="flaky", outcome="failed") == 1
    assert sample(registry, "expsvc_job_runs_total", job="flaky", outcome="ok") >= 1


async def test_a_singleton_runs_in_one_runner_at_a_time(database: Database) -> None:
    running = 0
    overlap = 0
    passes = 0

    async def job() -> int:
        nonlocal running, overlap, passes
        running += 1
        overlap = max(overlap, running)
        await asyncio.sleep(0.05)
        running -= 1
        passes += 1
        return 1

    runners = [runner_for(database, Job("only-one", FAST, job, singleton=True)) for _ in range(3)]
    for runner in runners:
        await runner.start()
    try:
        await wait_until(lambda: passes >= 5)
    finally:
        for runner in runners:
            await runner.stop()
    assert overlap == 1
    skipped = sum(
        sample(r.metrics.registry, "expsvc_job_runs_total", job="only-one", outcome="skipped")
        for r in runners
    )
    assert skipped >= 1


async def test_a_singleton_is_skipped_while_another_process_holds_its_lock(
    database: Database, database_url: str
) -> None:
    calls: list[int] = []

    async def job() -> int:
        calls.append(1)
        return 1

    runner = runner_for(database, Job("held", FAST, job, singleton=True))
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", lock_id_for("held"))
        assert await runner.run_once(runner.jobs[0]) == ("skipped", 0)
        assert calls == []
        await holder.execute("SELECT pg_advisory_unlock($1)", lock_id_for("held"))
        assert await runner.run_once(runner.jobs[0]) == ("ok", 1)
    finally:
        await holder.close()
    # The lock is released after the pass: a session can take it again.
    other = await asyncpg.connect(database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_id_for("held"))
    finally:
        await other.close()


async def test_full_batches_run_again_at_once(database: Database) -> None:
    remaining = 25

    async def job() -> int:
        nonlocal remaining
        batch = min(10, remaining)
        remaining -= batch
        return batch

    runner = runner_for(database, Job("batches", 3600, job, batch_size=10, run_at_start=True))
    async with runner:
        await wait_until(lambda: remaining == 0)
    registry = runner.metrics.registry
    assert sample(registry, "expsvc_job_runs_total", job="batches", outcome="ok") == 3
    assert sample(registry, "expsvc_job_items_total", job="batches") == 25


async def test_stop_lets_the_current_pass_finish_and_starts_no_other(database: Database) -> None:
    started = asyncio.Event()
    finished: list[int] = []

    async def job() -> int:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(1)
        return 10

    runner = runner_for(database, Job("slow", 3600, job, batch_size=10, run_at_start=True))
    await runner.start()
    await started.wait()
    await runner.stop()
    assert finished == [1]  # finished, and the full batch was not followed by another


async def test_stop_cancels_a_pass_that_outlives_the_grace_period(database: Database) -> None:
    started = asyncio.Event()
    cancelled: list[int] = []

    async def job() -> int:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise
        return 0

    runner = runner_for(database, Job("stuck", 3600, job, run_at_start=True), grace=0.1)
    await runner.start()
    await started.wait()
    async with asyncio.timeout(5):
        await runner.stop()
    assert cancelled == [1]


async def test_a_crashed_loop_is_restarted_and_cancelled_on_stop(database: Database) -> None:
    starts: list[int] = []
    cancelled = asyncio.Event()

    async def loop() -> None:
        starts.append(1)
        if len(starts) == 1:
            raise RuntimeError("crash")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    runner = runner_for(database, Loop("looping", loop))
    async with runner:
        await wait_until(lambda: len(starts) == 2)
    assert cancelled.is_set()
    registry = runner.metrics.registry
    assert sample(registry, "expsvc_job_failures_total", job="looping") == 1


def test_job_names_are_unique_and_intervals_positive(database_url: str) -> None:
    async def nothing() -> int:
        return 0

    with pytest.raises(ValueError, match="interval"):
        Job("zero", 0, nothing)
    with pytest.raises(ValueError, match="unique"):
        JobRunner(None, [Job("a", 1, nothing), Job("a", 1, nothing)], None)  # type: ignore[arg-type]


async def test_the_app_exposes_job_metrics(database_url: str) -> None:
    from expsvc.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, idempotency_purge_interval_seconds=0.05))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            async with asyncio.timeout(10):
                while True:
                    text = (await client.get("/metrics")).text
                    if 'expsvc_job_runs_total{job="idempotency-purge",outcome="ok"}' in text:
                        break
                    await asyncio.sleep(0.05)
    assert 'expsvc_job_duration_seconds_bucket{job="idempotency-purge"' in text


async def test_a_cancelled_singleton_pass_releases_its_lock(
    database: Database, database_url: str
) -> None:
    started = asyncio.Event()

    async def job() -> int:
        started.set()
        await asyncio.sleep(60)
        return 0

    runner = runner_for(
        database, Job("cut-short", 3600, job, singleton=True, run_at_start=True), grace=0.1
    )
    await runner.start()
    await started.wait()
    await runner.stop()
    other = await asyncpg.connect(database_url)
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_id_for("cut-short"))
    finally:
        await other.close()


def test_every_registered_job_runs_in_the_worker_and_the_relay_ones_in_serve_if_enabled(
    settings: Settings,
) -> None:
    from expsvc.worker.jobs import build_runner

    relay_jobs = {"outbox-relay", "webhook-deliverer", "outbox-backlog-metrics"}
    relay_jobs.add("event-retention-purge")
    serve_off = build_runner(settings, None, CollectorRegistry(), in_app=True)  # type: ignore[arg-type]
    assert relay_jobs.isdisjoint(serve_off.names)
    assert {"idempotency-purge", "run-reaper", "capture-reconciliation"} <= set(serve_off.names)
    on = settings.model_copy(update={"relay_enabled": True})
    serve_on = build_runner(on, None, CollectorRegistry(), in_app=True)  # type: ignore[arg-type]
    worker = build_runner(settings, None, CollectorRegistry(), in_app=False)  # type: ignore[arg-type]
    assert set(serve_on.names) == set(worker.names) == relay_jobs | set(serve_off.names)


async def test_the_relay_chores_run_as_jobs_not_inside_the_relay(database_url: str) -> None:
    from expsvc.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, relay_enabled=True))
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.3)  # the relay has started its own tasks by now
        names = {task.get_name() for task in asyncio.all_tasks()}
    assert "outbox-sequencer" in names
    assert {"outbox-relay", "outbox-backlog-metrics", "event-retention-purge"} <= names
    assert not {"outbox-metrics", "outbox-purge"} & names  # the relay's own chore tasks


async def test_stop_does_not_hang_on_a_loop_that_swallows_a_cancellation(
    database: Database,
) -> None:
    swallowed: list[int] = []

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)  # as a lost cancellation would leave it: still running

    runner = runner_for(database, Loop("stubborn", stubborn))
    await runner.start()
    await asyncio.sleep(0.05)
    async with asyncio.timeout(5):
        await runner.stop()
    assert swallowed == [1]
