"""Verifying Standard Webhooks signatures on the events our neighbours send us.

The sender signs ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under a shared
``whsec_`` secret (the scheme :mod:`expsvc.webhook.signing` signs our own webhooks with). A
request is accepted when one of its ``v1,`` signatures matches one of our secrets (several
during a rotation) and its timestamp is within five minutes of our clock, either way.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence

from expsvc.errors import NotFound, Unauthorized
from expsvc.webhook.signing import signature

TOLERANCE_SECONDS = 300
MAX_MESSAGE_ID_LENGTH = 255
_MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,255}$")
_MAX_SIGNATURES = 16


class InvalidSignature(Unauthorized):
    slug, title = "invalid-signature", "Invalid webhook signature"


class IntegrationDisabled(NotFound):
    slug, title = "integration-disabled", "Integration not configured"


def signature_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``; 401 if one is missing."""
    message_id = headers.get("webhook-id")
    raw_timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not raw_timestamp or not signatures:
        raise InvalidSignature("webhook-id, webhook-timestamp and webhook-signature are required")
    return message_id, raw_timestamp, signatures


def verify(secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: float) -> str:
    """The ``webhook-id`` of a correctly signed, fresh request; :class:`InvalidSignature` if not.

    ``headers`` is case-insensitive (Starlette's ``Headers``) or keyed in lower case.
    """
    message_id, raw_timestamp, signatures = signature_headers(headers)
    if not _MESSAGE_ID.fullmatch(message_id):
        raise InvalidSignature("webhook-id must be 1 to 255 visible ASCII characters")
    if not raw_timestamp.isascii() or not raw_timestamp.isdigit() or len(raw_timestamp) > 12:
        raise InvalidSignature("webhook-timestamp must be Unix seconds")
    timestamp = int(raw_timestamp)
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"webhook-timestamp is more than {TOLERANCE_SECONDS} seconds from our clock"
        )
    offered = [s for s in signatures.split(" ")[:_MAX_SIGNATURES] if s.startswith("v1,")]
    for secret in secrets:
        expected = signature(secret, message_id, timestamp, body).encode()
        if any(hmac.compare_digest(expected, candidate.encode()) for candidate in offered):
            return message_id
    raise InvalidSignature("no webhook-signature matches")
