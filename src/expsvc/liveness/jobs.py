"""The run reaper as a worker job (registered in :mod:`expsvc.worker.jobs`)."""

from __future__ import annotations

from collections.abc import Iterable

from expsvc.liveness.service import RunReaper
from expsvc.worker.runtime import Job, Work, WorkerContext


def reaper_jobs(context: WorkerContext) -> Iterable[Work]:
    settings = context.settings
    if settings.reaper_interval_seconds <= 0:
        return []
    reaper = RunReaper(
        context.database,
        heartbeat_timeout=settings.run_heartbeat_timeout_seconds,
        max_duration=settings.run_max_duration_seconds,
        batch_size=settings.reaper_batch_size,
    )
    # Not a singleton: every worker reaps, each claiming its runs with SKIP LOCKED. The first
    # pass comes one interval after start, not while the process (and the database) warm up.
    return [
        Job(
            "run-reaper",
            settings.reaper_interval_seconds,
            reaper.reap_batch,
            batch_size=settings.reaper_batch_size,
        )
    ]
