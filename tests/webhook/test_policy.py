"""Retry schedule, Retry-After, disabling and signatures as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook

from expsvc.webhook.policy import MAX_RETRY_AFTER_SECONDS, DeliveryPolicy, Outcome
from expsvc.webhook.sender import retry_after_seconds
from expsvc.webhook.signing import new_secret, signature, signature_header

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
POLICY = DeliveryPolicy(
    timeout=15,
    schedule=(10.0, 100.0),
    disable_after=timedelta(hours=120),
    allow_private_targets=False,
    retention=timedelta(days=30),
)


def _outcome(status: int | None = 500, retry_after: float | None = None) -> Outcome:
    return Outcome(NOW, 10, status_code=status, retry_after=retry_after)


@pytest.mark.parametrize(("attempt", "base"), [(1, 10.0), (2, 100.0), (7, 100.0)])
def test_retry_delays_follow_the_schedule_with_jitter(attempt: int, base: float) -> None:
    delays = [POLICY.retry_delay(attempt, None) for _ in range(200)]
    assert all(0.8 * base <= delay <= 1.2 * base for delay in delays)
    assert len(set(delays)) > 100


def test_a_longer_retry_after_wins_and_is_capped() -> None:
    assert POLICY.retry_delay(1, 500) == 500
    assert POLICY.retry_delay(1, 1e9) == MAX_RETRY_AFTER_SECONDS
    assert POLICY.retry_delay(2, 1) >= 80


def test_the_default_schedule_spans_about_three_days() -> None:
    from expsvc.settings import DEFAULT_WEBHOOK_RETRY_SCHEDULE

    total = timedelta(seconds=sum(DEFAULT_WEBHOOK_RETRY_SCHEDULE))
    assert timedelta(days=2.5) < total < timedelta(days=3.5)
    assert DEFAULT_WEBHOOK_RETRY_SCHEDULE[:5] == (5, 300, 1800, 7200, 18000)


def test_decisions() -> None:
    def decide(outcome: Outcome, **state: object) -> object:
        values: dict[str, object] = {
            "attempts": 1, "max_attempts": 3, "active": True, "failing_since": None, "now": NOW,
        }  # fmt: skip
        return POLICY.decide(outcome, **{**values, **state})  # type: ignore[arg-type]

    earlier = NOW - timedelta(hours=1)
    success = decide(_outcome(204), failing_since=earlier)
    assert (success.status, success.failing_since) == ("succeeded", None)  # type: ignore[attr-defined]
    retry = decide(_outcome(500))
    assert retry.status == "pending"  # type: ignore[attr-defined]
    assert retry.failing_since == NOW  # type: ignore[attr-defined]
    assert NOW + timedelta(seconds=8) <= retry.next_attempt_at <= NOW + timedelta(seconds=12)  # type: ignore[attr-defined]
    assert decide(_outcome(500), failing_since=earlier).failing_since == earlier  # type: ignore[attr-defined]
    assert decide(_outcome(500), attempts=3).status == "failed"  # type: ignore[attr-defined]
    gone = decide(_outcome(410))
    assert (gone.status, gone.disable) == ("abandoned", "the receiver answered 410 Gone")  # type: ignore[attr-defined]
    stale = decide(_outcome(500), failing_since=NOW - timedelta(hours=121))
    assert stale.status == "abandoned"  # type: ignore[attr-defined]
    assert stale.disable.startswith("every attempt failed for over 120 h")  # type: ignore[attr-defined]
    inactive = decide(_outcome(None), active=False)
    assert (inactive.status, inactive.failing_since, inactive.disable) == ("abandoned", None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize("status", [None, 199, 300, 304, 400, 429, 500])
def test_only_2xx_succeeds(status: int | None) -> None:
    assert not _outcome(status).succeeded
    assert Outcome(NOW, 1, status_code=200).succeeded
    assert not Outcome(NOW, 1, status_code=200, error="too late").succeeded


def test_retry_after_values() -> None:
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds(" 7 ") == 7
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (retry_after_seconds(soon) or 0) <= 90
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    # "-0000": a date whose zone the sender does not know (RFC 5322 3.3), read as UTC.
    later = format_datetime((datetime.now(UTC) + timedelta(seconds=90)).replace(tzinfo=None))
    assert later.endswith("-0000")
    assert 85 <= (retry_after_seconds(later) or 0) <= 90
    for garbage in (None, "", "soon", "-5", "1.5e3"):
        assert retry_after_seconds(garbage) is None


def test_signatures_match_the_reference_implementation() -> None:
    secret = new_secret()
    body = '{"type":"run.started","data":{"name":"ünïcode"}}'
    timestamp = 1_764_158_400
    expected = Webhook(secret).sign("msg_1", datetime.fromtimestamp(timestamp, UTC), body)
    assert signature(secret, "msg_1", timestamp, body.encode()) == expected
    other = new_secret()
    header = signature_header([secret, other], "msg_1", timestamp, body.encode())
    assert header.split(" ") == [expected, signature(other, "msg_1", timestamp, body.encode())]
