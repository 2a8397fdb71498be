"""The rules of idempotent requests, free of HTTP framework types.

A key belongs to one principal. The first request with a key runs; its successful response is
stored with the key in the same transaction as the write it made. A later request with the same
key and the same fingerprint gets that response back; with another fingerprint it is refused
(422); while the first is still running it is refused with 409 and may be retried.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.change_log import ChangeLogRepository
from expsvc.errors import BadRequest, Conflict, ValidationFailed
from expsvc.idempotency.repository import IdempotencyRepository
from expsvc.secret.box import SecretBox

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_PATTERN = rf"^[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}$"
_VISIBLE_ASCII = re.compile(KEY_PATTERN)
# Recomputed for the replayed body, or not the stored response's to repeat.
_UNSTORED_HEADERS = frozenset({"content-length", "set-cookie", "date", "server"})


class InvalidIdempotencyKey(BadRequest):
    slug, title = "invalid-idempotency-key", "Invalid idempotency key"


class IdempotencyKeyInFlight(Conflict):
    slug, title = "idempotency-key-in-flight", "Idempotency key in flight"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "Idempotency key reused with another request"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


def validate_key(raw: str) -> str:
    """The key itself, if it is 1 to 255 visible ASCII characters."""
    if not _VISIBLE_ASCII.fullmatch(raw):
        raise InvalidIdempotencyKey(
            f"{IDEMPOTENCY_KEY_HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"
        )
    return raw


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 over what makes two requests "the same": method, path, query and body.

    A JSON body is canonicalised (keys sorted, insignificant whitespace dropped) so a client
    that re-serialises the same object differently is not refused; anything else is hashed raw.
    """
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    canonical_query = orjson.dumps(sorted(parse_qsl(query, keep_blank_values=True)))
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), canonical_query, canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def storable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in _UNSTORED_HEADERS}


class IdempotencyService:
    """Claims keys and stores responses within the caller's transaction; never commits."""

    def __init__(
        self, session: AsyncSession, ttl: timedelta, retry_after: int, box: SecretBox
    ) -> None:
        self.repository = IdempotencyRepository(session)
        self.change_log = ChangeLogRepository(session)
        self.ttl = ttl
        self.retry_after = retry_after
        self.box = box

    async def claim(
        self, principal: str, key: str, method: str, path: str, request_fingerprint: str
    ) -> StoredResponse | None:
        """Claim the key for this transaction; the stored response if it was already used.

        Raises :class:`IdempotencyKeyInFlight` while another request holds the key,
        :class:`IdempotencyKeyReused` when the stored request was a different one, and
        :class:`~expsvc.secret.box.SecretUndecryptable` when its sealed body cannot be opened.
        """
        locked, claimed = await self.repository.claim(
            principal, key, method, path, request_fingerprint, self.ttl
        )
        if not locked:
            raise IdempotencyKeyInFlight(
                "a request with this Idempotency-Key is still being processed; retry later",
                headers={"Retry-After": str(self.retry_after)},
            )
        if claimed:
            self.change_log.defer()  # it joins the statement that stores the response
            return None
        row = await self.repository.get_live(principal, key)
        assert row is not None  # live (not claimable) and locked by us: it cannot go away
        if row.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different request "
                f"({row.method} {row.path}); use a new key for a new request"
            )
        body = self.box.open(row.response_body)  # unchanged unless sealed
        return StoredResponse(row.response_status, row.response_headers, body)

    async def record(
        self, principal: str, key: str, response: StoredResponse, *, seal: bool = False
    ) -> None:
        """Store the response of the request that claimed ``key``, for later replays, with
        the request's change log, held back since the claim: one statement. ``seal``: the
        body carries a secret and is stored encrypted."""
        await self.repository.store_response(
            principal,
            key,
            response.status,
            dict(response.headers),
            self.box.seal(response.body) if seal else response.body,
            self.change_log.take_pending(),
        )

    def not_recorded(self) -> None:
        """The claimed request failed: its transaction rolls back, so its held rows go too."""
        self.change_log.take_pending()
