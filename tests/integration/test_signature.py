"""The signature check of inbound integrations, on a clock the test sets: the 300 s tolerance
holds exactly, either way, whatever the wall clock says."""

from __future__ import annotations

import pytest

from expsvc.integration.signature import TOLERANCE_SECONDS, InvalidSignature, verify
from expsvc.webhook.signing import new_secret, webhook_headers

SECRET = new_secret()
SIGNED_AT = 1_764_158_400  # a fixed past second: a check against the wall clock would refuse it
BODY = b'{"events": []}'


def headers(timestamp: int = SIGNED_AT) -> dict[str, str]:
    return webhook_headers([SECRET], "msg_1", timestamp, BODY)


def test_the_tolerance_is_five_minutes() -> None:
    assert TOLERANCE_SECONDS == 300


@pytest.mark.parametrize(
    "now",
    [
        SIGNED_AT + 300,  # signed exactly 300 s ago
        SIGNED_AT + 299.999,
        SIGNED_AT + 0.5,
        SIGNED_AT,
        SIGNED_AT - 0.5,
        SIGNED_AT - 299.999,
        SIGNED_AT - 300,  # signed exactly 300 s ahead of our clock
    ],
)
def test_a_timestamp_at_most_300_s_either_side_of_now_is_accepted(now: float) -> None:
    assert verify([SECRET], headers(), BODY, now) == "msg_1"


@pytest.mark.parametrize(
    "now",
    [
        SIGNED_AT + 300.001,  # 1 ms too old
        SIGNED_AT + 301,
        SIGNED_AT + 86_400,
        SIGNED_AT - 300.001,  # 1 ms too far ahead
        SIGNED_AT - 301,
        SIGNED_AT - 86_400,
    ],
)
def test_a_timestamp_more_than_300_s_either_side_of_now_is_refused(now: float) -> None:
    with pytest.raises(InvalidSignature, match="more than 300 seconds from our clock"):
        verify([SECRET], headers(), BODY, now)
