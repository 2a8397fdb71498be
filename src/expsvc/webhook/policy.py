"""What happens after an attempt: the retry schedule and when an endpoint is disabled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from expsvc import jitter
from expsvc.settings import Settings

# A receiver's Retry-After is honoured up to this long (a larger one is treated as this).
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
_JITTER = 0.2


@dataclass(frozen=True)
class Outcome:
    """One attempt: the receiver's status (None if none came) or why it failed."""

    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Decision:
    status: str
    failing_since: datetime | None
    next_attempt_at: datetime | None = None
    disable: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class DeliveryPolicy:
    timeout: float
    schedule: tuple[float, ...]
    disable_after: timedelta
    allow_private_targets: bool
    retention: timedelta
    max_in_flight_per_endpoint: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            timeout=settings.webhook_timeout_seconds,
            schedule=settings.webhook_retry_schedule,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            allow_private_targets=settings.webhook_allow_private_targets,
            retention=timedelta(hours=settings.webhook_delivery_retention_hours),
            max_in_flight_per_endpoint=settings.webhook_max_in_flight_per_endpoint,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claimed delivery stays with its worker before others may retry it."""
        return timedelta(seconds=self.timeout + 60)

    def retry_delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds before the retry after failed attempt ``attempt`` (1-based): the schedule's,
        ±20 % jitter, or the receiver's Retry-After when that is longer."""
        base = self.schedule[min(attempt, len(self.schedule)) - 1] if self.schedule else 0.0
        delay = jitter.spread(base, _JITTER)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
        return delay

    def decide(
        self,
        outcome: Outcome,
        *,
        attempts: int,
        max_attempts: int,
        active: bool,
        failing_since: datetime | None,
        now: datetime,
    ) -> Decision:
        """The delivery's next state, the endpoint's ``failing_since`` and whether to disable it."""
        if outcome.succeeded:
            return Decision("succeeded", failing_since=None)
        if not active:  # deactivated or disabled meanwhile: its deliveries are given up
            return Decision("abandoned", failing_since, note="the webhook is inactive")
        since = failing_since or now
        if outcome.status_code == 410:
            return Decision("abandoned", since, disable="the receiver answered 410 Gone")
        if now - since >= self.disable_after:
            window = _duration(self.disable_after)
            reason = f"every attempt failed for over {window} (since {since.isoformat()})"
            return Decision("abandoned", since, disable=reason)
        if attempts >= max_attempts:
            return Decision("failed", since)
        delay = timedelta(seconds=self.retry_delay(attempts, outcome.retry_after))
        return Decision("pending", since, next_attempt_at=now + delay)


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
