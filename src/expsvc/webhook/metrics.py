"""Prometheus metrics of webhook delivery."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "expsvc_webhook_attempts",
            "HTTP requests made to deliver webhooks (every try of every delivery).",
            registry=registry,
        )
        self.attempt_failures = Counter(
            "expsvc_webhook_attempt_failures",
            "Attempts without a 2xx answer in time (a retry may follow).",
            registry=registry,
        )
        self.deliveries = Counter(
            "expsvc_webhook_deliveries",
            "Deliveries finished, by outcome: succeeded (a 2xx answer), failed (retries "
            "exhausted) or abandoned (endpoint disabled).",
            ["outcome"],
            registry=registry,
        )
        self.disabled = Counter(
            "expsvc_webhook_endpoints_disabled",
            "Endpoints disabled by the service (410 Gone, failing too long).",
            registry=registry,
        )
        self.pending = Gauge(
            "expsvc_webhook_deliveries_pending",
            "Deliveries not finished yet (pending or being attempted), all endpoints.",
            registry=registry,
        )
        self.oldest_pending_age = Gauge(
            "expsvc_webhook_oldest_pending_age_seconds",
            "Age of the oldest unfinished delivery, all endpoints (0 when none).",
            registry=registry,
        )
        self.duration = Histogram(
            "expsvc_webhook_attempt_duration_seconds",
            "Time from sending a webhook to its answer (or the failure).",
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
