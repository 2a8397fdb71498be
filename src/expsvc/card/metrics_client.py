"""The Metrics Service, as run cards read it (contract: docs/integrations.md#metrics-card).

``GET {EXPSVC_METRICS_SERVICE_URL}/v1/runs/{run_id}/aggregates`` within
``EXPSVC_METRICS_SERVICE_TIMEOUT_SECONDS`` (the whole exchange, not per phase): 200 with the
aggregates, or 404 when it has none for the run (an answer, not a failure). Anything else — no
answer in time, a connection error, another status, a body not as agreed — is a failure, and
consecutive failures open the circuit breaker, which then skips the call.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import httpx
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from expsvc import __version__
from expsvc.card.breaker import BreakerState, CircuitBreaker
from expsvc.card.schemas import MetricsAnswer, RunMetrics
from expsvc.settings import Settings

MAX_BODY_BYTES = 1_048_576
_log = structlog.get_logger("expsvc.metrics_service")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5)


class MetricsOutcome(StrEnum):
    ok = "ok"
    not_found = "not_found"
    timeout = "timeout"
    error = "error"
    invalid = "invalid"
    short_circuited = "short_circuited"


_FAILURES = frozenset({MetricsOutcome.timeout, MetricsOutcome.error, MetricsOutcome.invalid})


@dataclass(frozen=True)
class MetricsResult:
    outcome: MetricsOutcome
    metrics: RunMetrics | None = None

    @property
    def degraded(self) -> bool:
        return self.metrics is None


class MetricsClientMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "expsvc_metrics_service_requests",
            "Run-card calls to the Metrics Service by outcome (short_circuited: not made, the "
            "breaker is open).",
            ["outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "expsvc_metrics_service_request_duration_seconds",
            "Duration of the calls made to the Metrics Service (timeouts included).",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.breaker_open = Gauge(
            "expsvc_metrics_service_breaker_open",
            "1 while the Metrics Service circuit breaker is open or half-open, else 0.",
            registry=registry,
        )


class MetricsServiceClient:
    def __init__(
        self,
        base_url: str,
        timeout: float,
        breaker: CircuitBreaker,
        metrics: MetricsClientMetrics,
    ) -> None:
        self.timeout = timeout
        self.breaker = breaker
        self.metrics = metrics
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": f"expsvc/{__version__}"},
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, registry: CollectorRegistry
    ) -> MetricsServiceClient | None:
        if settings.metrics_service_url is None:
            return None
        breaker = CircuitBreaker(
            settings.metrics_breaker_failure_threshold, settings.metrics_breaker_cooldown_seconds
        )
        return cls(
            settings.metrics_service_url,
            settings.metrics_service_timeout_seconds,
            breaker,
            MetricsClientMetrics(registry),
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def aggregates(
        self, run_id: uuid.UUID, *, request_id: str | None, traceparent: str | None
    ) -> MetricsResult:
        """The run's aggregates, or a result without them saying why; never raises."""
        if not self.breaker.allow():
            return self._done(MetricsResult(MetricsOutcome.short_circuited), run_id)
        headers = {"X-Request-ID": request_id} if request_id else {}
        if traceparent:
            headers["traceparent"] = traceparent
        started = time.perf_counter()
        try:
            result = await self._call(run_id, headers)
        except BaseException:
            self.breaker.abandoned()  # cancelled with the request: the call told us nothing
            raise
        finally:
            self.metrics.duration.observe(time.perf_counter() - started)
        if result.outcome in _FAILURES:
            self.breaker.failed()
        else:
            self.breaker.succeeded()
        return self._done(result, run_id)

    async def _call(self, run_id: uuid.UUID, headers: dict[str, str]) -> MetricsResult:
        path = f"/v1/runs/{run_id}/aggregates"
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.get(path, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return MetricsResult(MetricsOutcome.timeout)
        except httpx.HTTPError:
            return MetricsResult(MetricsOutcome.error)
        if response.status_code == 404:
            return MetricsResult(
                MetricsOutcome.not_found, RunMetrics(aggregates={}, updated_at=None)
            )
        if response.status_code != 200:
            return MetricsResult(MetricsOutcome.error)
        if len(response.content) > MAX_BODY_BYTES:
            return MetricsResult(MetricsOutcome.invalid)
        try:
            answer = MetricsAnswer.model_validate_json(response.content)
        except ValidationError:
            return MetricsResult(MetricsOutcome.invalid)
        if answer.run_id != run_id:
            return MetricsResult(MetricsOutcome.invalid)
        metrics = RunMetrics(aggregates=answer.aggregates, updated_at=answer.updated_at)
        return MetricsResult(MetricsOutcome.ok, metrics)

    def _done(self, result: MetricsResult, run_id: uuid.UUID) -> MetricsResult:
        self.metrics.requests.labels(result.outcome.value).inc()
        self.metrics.breaker_open.set(0 if self.breaker.state is BreakerState.closed else 1)
        if result.outcome in _FAILURES:
            _log.warning(
                "metrics service call failed",
                outcome=result.outcome.value,
                run_id=str(run_id),
                breaker=self.breaker.state.value,
            )
        return result
