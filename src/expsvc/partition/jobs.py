"""Partition maintenance as a worker job (registered in :mod:`expsvc.worker.jobs`)."""

from __future__ import annotations

from collections.abc import Iterable

from expsvc.db import Database
from expsvc.partition.service import PartitionMaintainer, retentions
from expsvc.settings import Settings
from expsvc.worker.runtime import Job, Work, WorkerContext


def build_maintainer(settings: Settings, database: Database) -> PartitionMaintainer:
    from expsvc.event.runtime import build_sinks

    # The outbox's partitions go only once the sinks this configuration publishes to have them.
    sinks = [sink.name for sink in build_sinks(settings)]
    return PartitionMaintainer(
        database, retentions(settings, sinks), settings.partition_months_ahead
    )


def partition_jobs(context: WorkerContext) -> Iterable[Work]:
    interval = context.settings.partition_maintenance_interval_seconds
    if interval <= 0:
        return []
    maintainer = build_maintainer(context.settings, context.database)
    # A runner singleton: one process at a time creates and drops; first pass at start, so a
    # worker that was down for months creates the current month before anything else.
    return [
        Job(
            "partition-maintenance", interval, maintainer.run_job, singleton=True, run_at_start=True
        )
    ]
