"""The worker runtime: periodic jobs and long-running loops, started and stopped together.

A :class:`Job` does one pass (or one batch) of some periodic work and says how many items it
handled. The :class:`JobRunner` runs every job on its own interval in its own task, records
metrics, and on :meth:`JobRunner.stop` lets each job finish the pass it is in before exiting, so
SIGTERM never cuts a batch in half (a batch is one transaction anyway: cancelled, it rolls back).

Coordination between processes goes through PostgreSQL only:

- ``singleton`` jobs run under ``pg_try_advisory_lock`` held on a dedicated connection for the
  pass; a process that does not get the lock skips that pass (outcome ``skipped``);
- other jobs may run in every process at once and must claim their items themselves
  (``FOR UPDATE SKIP LOCKED`` in the batch's transaction), as the run reaper does.

A :class:`Loop` is work that runs continuously (the outbox relay, the webhook deliverer): the
runner starts it, restarts it with a backoff if it crashes, and cancels it on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import structlog
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from expsvc import jitter
from expsvc.db import Database
from expsvc.error_handlers import classify_database_error
from expsvc.observability.tracing import background, linked_span
from expsvc.settings import Settings
from expsvc.worker.metrics import JobMetrics

_log = structlog.get_logger("expsvc.worker")

Outcome = Literal["ok", "skipped", "failed"]


def lock_id_for(name: str) -> int:
    """A stable 64-bit advisory lock id for a job name (derived, so features cannot collide)."""
    return int.from_bytes(
        hashlib.sha256(f"expsvc.job.{name}".encode()).digest()[:8], "big", signed=True
    )


@dataclass(frozen=True)
class Job:
    """Periodic work. ``run`` does one pass and returns the items it handled, or ``None`` when
    it did nothing because another process holds the work (a job with its own locking).

    With ``batch_size``, ``run`` handles at most one batch per call and the runner calls it again
    at once while batches come back full, checking for shutdown between batches. The first pass
    comes one interval after start, or at once with ``run_at_start``.
    """

    name: str
    interval: float
    run: Callable[[], Awaitable[int | None]]
    singleton: bool = False
    batch_size: int | None = None
    run_at_start: bool = False
    lock_id: int = field(default=0)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError(f"job {self.name!r}: interval must be positive")
        if self.lock_id == 0:
            object.__setattr__(self, "lock_id", lock_id_for(self.name))


@dataclass(frozen=True)
class Loop:
    """Continuous work: ``run`` returns only when cancelled."""

    name: str
    run: Callable[[], Awaitable[None]]


Work = Job | Loop


@dataclass(frozen=True)
class WorkerContext:
    """What a job factory (:data:`expsvc.worker.jobs.JOB_FACTORIES`) builds its jobs from."""

    settings: Settings
    database: Database
    registry: CollectorRegistry
    in_app: bool
    """True inside ``expsvc serve`` (the in-process worker), False in ``expsvc worker``."""


class JobRunner:
    """Runs jobs and loops in the background between :meth:`start` and :meth:`stop`.

    Each gets a task named after it. ``shutdown_grace`` bounds how long :meth:`stop` waits for
    jobs to finish the pass they are in; past it they are cancelled (their open transaction
    rolls back).
    """

    def __init__(
        self,
        database: Database,
        work: Sequence[Work],
        metrics: JobMetrics,
        *,
        shutdown_grace: float = 30.0,
    ) -> None:
        names = [item.name for item in work]
        if len(names) != len(set(names)):
            raise ValueError(f"job names must be unique: {names}")
        self.database = database
        self.jobs = [item for item in work if isinstance(item, Job)]
        self.loops = [item for item in work if isinstance(item, Loop)]
        self.metrics = metrics
        self.shutdown_grace = shutdown_grace
        self._stopping = asyncio.Event()
        self._job_tasks: list[asyncio.Task[None]] = []
        self._loop_tasks: list[asyncio.Task[None]] = []

    @property
    def names(self) -> list[str]:
        return [job.name for job in self.jobs] + [loop.name for loop in self.loops]

    async def start(self) -> None:
        self._stopping.clear()
        with background():  # traced inside their own spans only
            self._job_tasks = [
                asyncio.create_task(self._every(job), name=job.name) for job in self.jobs
            ]
            self._loop_tasks = [
                asyncio.create_task(self._supervise(loop), name=loop.name) for loop in self.loops
            ]
        if self.names:
            _log.info("worker runtime started", jobs=self.names)

    async def stop(self) -> None:
        """Let running passes finish (within the grace period), then stop everything."""
        self._stopping.set()
        loops = asyncio.create_task(_cancel_until_done(self._loop_tasks))
        pending: set[asyncio.Task[None]] = set()
        if self._job_tasks:
            _, pending = await asyncio.wait(self._job_tasks, timeout=self.shutdown_grace)
        for task in pending:
            _log.warning("job did not finish within the shutdown grace period", job=task.get_name())
        await _cancel_until_done(pending)
        await loops
        # All done: collect their outcomes so none is reported as never retrieved.
        await asyncio.gather(*self._job_tasks, *self._loop_tasks, return_exceptions=True)
        self._job_tasks, self._loop_tasks = [], []

    async def __aenter__(self) -> JobRunner:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # --- periodic jobs ----------------------------------------------------------------------

    async def run_once(self, job: Job) -> tuple[Outcome, int]:
        """One call of ``job.run`` with its lock, metrics and logging; never raises."""
        started = time.perf_counter()
        try:
            with linked_span(f"job {job.name}", job=job.name):
                items = await (self._run_locked(job) if job.singleton else job.run())
        except Exception as error:
            self.metrics.record(job.name, "failed", time.perf_counter() - started, 0)
            if classify_database_error(error, retry_after=1) is not None:
                # An outage, not a bug: one line per pass, no traceback, until it comes back.
                _log.warning("job failed: database unavailable", job=job.name, error=repr(error))
            else:
                _log.exception("job failed", job=job.name, error=repr(error))
            return "failed", 0
        outcome: Outcome = "skipped" if items is None else "ok"
        count = items or 0
        self.metrics.record(job.name, outcome, time.perf_counter() - started, count)
        if count:
            _log.info("job done", job=job.name, items=count)
        return outcome, count

    async def _run_locked(self, job: Job) -> int | None:
        # A session-level lock on a connection of its own, held for the whole pass: the job's
        # batches commit on other connections while this one keeps the lock.
        async with self.database.engine.connect() as connection:
            locked = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:id)"), {"id": job.lock_id}
            )
            await connection.commit()
            if not locked:
                return None
            try:
                return await job.run()
            finally:
                await _unlock(connection, job.lock_id)

    async def _pass(self, job: Job) -> None:
        """Run the job; while its batches come back full, run it again (unless stopping)."""
        while True:
            outcome, items = await self.run_once(job)
            full = job.batch_size is not None and outcome == "ok" and items >= job.batch_size
            if not full or self._stopping.is_set():
                return

    async def _every(self, job: Job) -> None:
        if not job.run_at_start:
            await self._sleep(job.interval)
        while not self._stopping.is_set():
            await self._pass(job)
            await self._sleep(job.interval)

    async def _sleep(self, interval: float) -> None:
        """Sleep about ``interval`` seconds, or until stopping."""
        # Jitter keeps the processes of one deployment from waking together. asyncio.timeout,
        # not wait_for: Python 3.11's wait_for can swallow a cancellation that races its timeout.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(jitter.spread(interval, 0.1)):
                await self._stopping.wait()

    # --- loops ------------------------------------------------------------------------------

    async def _supervise(self, loop: Loop) -> None:
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                await loop.run()
                return
            except Exception as error:
                failures = 1 if time.perf_counter() - started > 60 else failures + 1
                self.metrics.record(loop.name, "failed", time.perf_counter() - started, 0)
                delay = jitter.backoff(failures, base=0.5)
                _log.exception("loop crashed; restarting", job=loop.name, error=repr(error))
                await asyncio.sleep(delay)


async def _cancel_until_done(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for them, cancelling again while one is still running: a
    cancellation can be lost (Python 3.11's wait_for swallows one that races its timeout) and
    shutdown must not hang on it."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in pending:
            _log.warning("task still running after cancel; cancelling again", job=task.get_name())


async def _unlock(connection: AsyncConnection, lock_id: int) -> None:
    """Release a session-level advisory lock; a connection that may still hold it (the unlock
    failed or was cancelled) is closed instead of going back to the pool, which releases it."""
    try:
        await connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
        await connection.commit()
    except BaseException as error:
        await connection.invalidate()
        if not isinstance(error, Exception):
            raise
        _log.warning("could not release a job lock; connection closed", error=repr(error))
