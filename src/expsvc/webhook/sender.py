"""One signed POST of a webhook, pinned to addresses checked just before it, within a deadline."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from expsvc import __version__
from expsvc.event.envelope import CLOUDEVENTS_MEDIA_TYPE
from expsvc.webhook.policy import Outcome
from expsvc.webhook.signing import webhook_headers
from expsvc.webhook.targets import Target, TargetRefused, resolve

USER_AGENT = f"expsvc-webhooks/{__version__}"
# How much of the receiver's answer the attempt log keeps.
RESPONSE_EXCERPT_BYTES = 1024


def new_client(timeout: float) -> httpx.AsyncClient:
    # No keep-alive: requests are pinned to IP addresses, and a pooled TLS connection to one
    # address must not serve another host name behind it. No proxies from the environment, no
    # redirects (a 3xx is a failure, and could point anywhere).
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, timeout: float, allow_private: bool) -> None:
        self.client = client
        self.timeout = timeout
        self.allow_private = allow_private

    async def send(
        self, url: str, secrets: Sequence[str], message_id: str, payload: dict[str, Any]
    ) -> Outcome:
        """POST ``payload`` signed with every secret; only a 2xx within the timeout succeeds."""
        body = orjson.dumps(payload)
        headers = {
            "content-type": CLOUDEVENTS_MEDIA_TYPE,
            "user-agent": USER_AGENT,
            **webhook_headers(secrets, message_id, int(time.time()), body),
        }
        if payload.get("traceparent"):  # the event's; with tracing on, the attempt's span's
            headers["traceparent"] = payload["traceparent"]
        started, clock = datetime.now(UTC), time.monotonic()
        result: dict[str, Any] = {}
        try:
            async with asyncio.timeout(self.timeout):
                target = await resolve(url, allow_private=self.allow_private)
                result = await self._post(target, headers, body)
        except TargetRefused as refused:
            result = {"error": f"target refused: {refused}"}
        except (TimeoutError, httpx.TimeoutException):
            result = {"error": f"no complete answer within {self.timeout:g} s"}
        except httpx.HTTPError as failure:
            result = {"error": f"{type(failure).__name__}: {failure}".rstrip(": ")}
        duration_ms = round((time.monotonic() - clock) * 1000)
        status = result.get("status_code")
        if status is not None and not 200 <= status < 300:
            result["error"] = f"the receiver answered {status}"
        return Outcome(started_at=started, duration_ms=duration_ms, **result)

    async def _post(self, target: Target, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """Try the resolved addresses in order until one accepts the connection."""
        refused: httpx.ConnectError | None = None
        for address in target.addresses:
            url, host, extensions = target.pinned(address)
            try:
                async with self.client.stream(
                    "POST", url, content=body, headers={**headers, **host}, extensions=extensions
                ) as response:
                    return {
                        "status_code": response.status_code,
                        "response_body": await _excerpt(response),
                        "retry_after": retry_after_seconds(response.headers.get("retry-after")),
                    }
            except httpx.ConnectError as error:
                refused = error
        assert refused is not None  # resolve() never returns an empty address list
        raise refused


async def _excerpt(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= RESPONSE_EXCERPT_BYTES:
            break
    # PostgreSQL text cannot hold NUL.
    return data[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "\ufffd")


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
