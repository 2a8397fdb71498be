"""The issuer's signing keys from its JWKS URL: fetched with httpx (never PyJWT's blocking
``PyJWKClient`` inside the event loop), cached, and fetched again when they grow old or a token
names a key id we do not know (a key rotation), but never more often than once per
``min_refresh_seconds``, so tokens with made-up key ids cannot make us hammer the endpoint.

Keys the issuer publishes but we would never accept are dropped on arrival: symmetric (``oct``)
keys, since a JWKS is public, and keys not meant for signatures.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import structlog

from expsvc.auth.errors import IdentityProviderUnavailable

_log = structlog.get_logger("expsvc.auth.jwks")
_MAX_JWKS_BYTES = 1_048_576


def usable_keys(document: Any) -> dict[str | None, jwt.PyJWK]:
    """The asymmetric signing keys of a JWKS document, by key id."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document (no keys array)")
    keys: dict[str | None, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") == "oct":
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue  # an algorithm or curve we do not support; the others still count
        keys[key.key_id] = key
    return keys


class JwksKeys:
    """The keys of one JWKS URL, shared by every request of the process."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float,
        min_refresh_seconds: float,
        retry_after: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.http = http
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.retry_after = retry_after
        self.clock = clock
        self.keys: dict[str | None, jwt.PyJWK] = {}
        self.fetched_at: float | None = None  # last successful fetch
        self.attempted_at = -math.inf  # last attempt, successful or not (the rate limit)
        self.fetches = 0
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key with this id (or the only key, for a token without one), fetching the set
        when it is old or does not know the id, within the rate limit; None if unknown."""
        if self.fetched_at is None or self.clock() - self.fetched_at >= self.cache_seconds:
            await self._refresh()
        key = self._lookup(kid)
        if key is None:
            await self._refresh()
            key = self._lookup(kid)
        return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    async def _refresh(self) -> None:
        if self.clock() - self.attempted_at < self.min_refresh_seconds:
            self._require_keys()
            return
        async with self._lock:
            # Whoever waited for the lock finds the fetch done by the one that held it.
            if self.clock() - self.attempted_at < self.min_refresh_seconds:
                self._require_keys()
                return
            self.attempted_at = self.clock()
            try:
                self.keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as error:
                # Keep serving with the keys we have: an issuer's outage must not lock out
                # tokens signed with keys we already know.
                _log.warning("jwks fetch failed", url=self.url, error=repr(error))
                self._require_keys()
                return
            self.fetched_at = self.clock()

    async def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        self.fetches += 1
        response = await self.http.get(self.url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > _MAX_JWKS_BYTES:
            raise ValueError("the JWKS document is larger than 1 MiB")
        keys = usable_keys(response.json())
        _log.info("jwks fetched", url=self.url, keys=len(keys))
        return keys

    def _require_keys(self) -> None:
        if self.fetched_at is None:
            raise IdentityProviderUnavailable(
                "the identity provider's signing keys cannot be fetched",
                headers={"Retry-After": str(self.retry_after)},
            )
