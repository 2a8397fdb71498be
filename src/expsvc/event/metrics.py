"""Prometheus metrics of the outbox relay."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge(
            "expsvc_outbox_backlog_events",
            "Events committed but not yet published, per sink.",
            ["sink"],
            registry=registry,
        )
        self.oldest_age = Gauge(
            "expsvc_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest event a sink has not published yet (0 when none).",
            ["sink"],
            registry=registry,
        )
        self.published = Counter(
            "expsvc_outbox_published_events",
            "Events published, per sink.",
            ["sink"],
            registry=registry,
        )
        self.failures = Counter(
            "expsvc_outbox_publish_failures",
            "Failed publish attempts (the batch is retried), per sink.",
            ["sink"],
            registry=registry,
        )
        self.sequenced = Counter(
            "expsvc_outbox_sequenced_events",
            "Events given their position in the log by this process.",
            registry=registry,
        )
        self.leading = Gauge(
            "expsvc_outbox_relay_leading",
            "How many sinks this process's relay leads (publishes to; it sequences while that is"
            " not 0): the sum over processes is the number of sinks.",
            registry=registry,
        )
        self.purged = Counter(
            "expsvc_outbox_purged_events",
            "Events deleted by this process once published everywhere and past retention.",
            registry=registry,
        )
