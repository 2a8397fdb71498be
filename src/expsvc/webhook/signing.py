"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` + base64 of 32 random bytes; the HMAC key is the decoded bytes. A request
carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``: ``v1,``
+ base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), one per valid secret, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], message_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: one signature per secret (two during a rotation's overlap)."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


def webhook_headers(
    secrets_: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
    }
