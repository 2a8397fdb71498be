"""Prometheus metrics of the worker runtime, per job."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.runs = Counter(
            "expsvc_job_runs",
            "Job passes (one batch each for batched jobs) by outcome: ok, skipped (another "
            "process holds the job) or failed.",
            ["job", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "expsvc_job_failures",
            "Job passes that raised (the job runs again at its next interval); loop crashes.",
            ["job"],
            registry=registry,
        )
        self.items = Counter(
            "expsvc_job_items",
            "Items the job handled (runs reaped, keys purged, ...).",
            ["job"],
            registry=registry,
        )
        self.duration = Histogram(
            "expsvc_job_duration_seconds",
            "Duration of one job pass.",
            ["job"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "expsvc_job_last_success_timestamp_seconds",
            "Unix time of the job's last pass that did not fail (ok or skipped).",
            ["job"],
            registry=registry,
        )

    def record(self, job: str, outcome: str, duration: float, items: int) -> None:
        self.runs.labels(job, outcome).inc()
        self.duration.labels(job).observe(duration)
        if items:
            self.items.labels(job).inc(items)
        if outcome == "failed":
            self.failures.labels(job).inc()
        else:
            self.last_success.labels(job).set(time.time())
