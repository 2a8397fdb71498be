"""Prometheus metrics of one app instance (own registry, so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram

# Buckets for a p95 of tens of milliseconds, with a boundary at each SLO threshold
# (docs/slo.md: 0.1 s for reads, 0.4 s for writes and the roadmap's p95, 2.5 s for bulk).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # The OpenTelemetry semantic conventions' names (http.server.request.duration,
        # http.server.active_requests) as Prometheus spells them.
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, by route template, method and status code.",
            ["http_route", "http_request_method", "http_response_status_code"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "http_server_active_requests",
            "HTTP server requests being served now.",
            registry=registry,
        )
