"""Pure ASGI middleware: request id, access log and metrics; request timeout; body guard.

Written against raw ASGI rather than ``BaseHTTPMiddleware`` to stay cheap on the hot path.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from expsvc.errors import (
    PayloadTooLarge,
    ProblemError,
    RequestTimedOut,
    UnsupportedMediaType,
    problem_response,
)
from expsvc.observability.metrics import HttpMetrics

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_log = structlog.get_logger("expsvc.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class ObservabilityMiddleware:
    """Assigns the request id, times the request, logs it and records its metrics."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = (
            incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        raw_id = request_id.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.in_flight.dec()
            self.metrics.request_duration.labels(
                _route_template(scope), scope["method"], str(status)
            ).observe(elapsed)
            _log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class RequestTimeoutMiddleware:
    """Answers 503 when a request takes longer than the configured timeout.

    Once the response has started (streams), the deadline is lifted: a stream is not a hang.
    """

    def __init__(self, app: ASGIApp, timeout: float, retry_after: int) -> None:
        self.app = app
        self.timeout = timeout
        self.retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False
        deadline = asyncio.timeout(self.timeout)

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                deadline.reschedule(None)
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_tracking)
        except TimeoutError:
            if response_started:
                raise
            error = RequestTimedOut(
                f"the request did not complete within {self.timeout:g} s",
                headers={"Retry-After": str(self.retry_after)},
            )
            await problem_response(error, scope["path"])(scope, receive, send)


_JSON_MEDIA = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


class BodyGuardMiddleware:
    """Refuses oversized bodies (413) and non-JSON bodies on writes (415) before parsing."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        error = self._check_headers(scope)
        if error is not None:
            await problem_response(error, scope["path"])(scope, receive, send)
            return
        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            # The framework turns a failed body read into its own 400; answer 413 instead.
            nonlocal answered
            if not too_large:
                await send(message)
            elif message["type"] == "http.response.start" and not answered:
                answered = True
                await problem_response(self._too_large(), scope["path"])(scope, receive, send)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not answered:
                await problem_response(self._too_large(), scope["path"])(scope, receive, send)

    def _check_headers(self, scope: Scope) -> ProblemError | None:
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return self._too_large()
        content_type = _header(scope, b"content-type")
        has_body = (length is not None and length != "0") or (
            _header(scope, b"transfer-encoding") is not None
        )
        if has_body and content_type is not None:
            media = content_type.split(";", 1)[0].strip().lower()
            if not _JSON_MEDIA.fullmatch(media):
                return UnsupportedMediaType(
                    f"request bodies must be application/json, got {media!r}"
                )
        return None

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body exceeds {self.max_body_bytes} bytes", max_bytes=self.max_body_bytes
        )


class _BodyTooLarge(Exception):
    pass
