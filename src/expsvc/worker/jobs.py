"""Every background job and loop of the service, registered in one place.

To add a job, write a factory next to your feature: a function that takes the
:class:`~expsvc.worker.runtime.WorkerContext` and returns the ``Job`` (or ``Loop``) objects to
run (none when its settings switch it off), and append it to :data:`JOB_FACTORIES`. It then runs
in ``expsvc worker`` and inside ``expsvc serve``; check ``context.in_app`` for work that must not
run in the API process. Factories import ``expsvc.worker.runtime``, never this module, so this
list can import them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from expsvc.db import Database
from expsvc.liveness.jobs import reaper_jobs
from expsvc.partition.jobs import partition_jobs
from expsvc.settings import Settings
from expsvc.telemetry.reconciliation import reconciliation_jobs
from expsvc.worker.metrics import JobMetrics
from expsvc.worker.runtime import Job, JobRunner, Loop, Work, WorkerContext

JobFactory = Callable[[WorkerContext], Iterable[Work]]


def _outbox_relay(context: WorkerContext) -> Iterable[Work]:
    settings = context.settings
    if context.in_app and not settings.relay_enabled:
        return []
    from expsvc.event.runtime import build_relay

    relay = build_relay(settings, context.database, context.registry)
    work: list[Work] = [Loop("outbox-relay", relay.run)]
    # The relay's periodic chores are jobs of their own (metrics, graceful stop), each first run
    # at start; they run in every process, not only in the leading relay's.
    if settings.relay_metrics_interval_seconds > 0:

        async def refresh_backlog() -> int:
            await relay.refresh_backlog()
            return 0  # gauges refreshed; no items

        interval = settings.relay_metrics_interval_seconds
        work.append(Job("outbox-backlog-metrics", interval, refresh_backlog, run_at_start=True))
    if settings.event_purge_interval_seconds > 0 and relay.retention_seconds is not None:
        # Not a runner singleton: purge_once takes its own lock (None when another holds it).
        interval = settings.event_purge_interval_seconds
        work.append(Job("event-retention-purge", interval, relay.purge_once, run_at_start=True))
    return work


def _webhook_delivery(context: WorkerContext) -> Iterable[Work]:
    if context.in_app and not context.settings.relay_enabled:
        return []
    from expsvc.webhook.runtime import build_deliverer

    deliverer = build_deliverer(context.settings, context.database, context.registry)
    return [Loop("webhook-deliverer", deliverer.run)]


def _idempotency_purge(context: WorkerContext) -> Iterable[Work]:
    interval = context.settings.idempotency_purge_interval_seconds
    if interval <= 0:
        return []
    from expsvc.idempotency.purge import purge_expired_keys

    # Not a runner singleton: the purge takes its own advisory lock (None when another holds it).
    return [Job("idempotency-purge", interval, lambda: purge_expired_keys(context.database))]


JOB_FACTORIES: list[JobFactory] = [
    _outbox_relay,
    _webhook_delivery,
    _idempotency_purge,
    reaper_jobs,
    reconciliation_jobs,
    partition_jobs,
]


def build_work(context: WorkerContext) -> list[Work]:
    return [work for factory in JOB_FACTORIES for work in factory(context)]


def build_runner(
    settings: Settings, database: Database, registry: CollectorRegistry, *, in_app: bool
) -> JobRunner:
    """The runner of every registered job, its metrics in ``registry``."""
    context = WorkerContext(settings, database, registry, in_app)
    return JobRunner(
        database,
        build_work(context),
        JobMetrics(registry),
        shutdown_grace=settings.worker_shutdown_grace_seconds,
    )


__all__ = ["JOB_FACTORIES", "Job", "JobFactory", "Loop", "WorkerContext", "build_runner"]
