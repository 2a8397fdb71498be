"""The one pure-ASGI middleware every request passes: request id, access log and metrics;
request timeout; body guard; the answer of last resort to an unexpected exception.

One layer instead of one per concern, because each layer costs a coroutine frame per request
and a ``send`` wrapper per message (about 14 % of a cheap GET's CPU with six of them). Here a
request costs one frame and one ``send`` wrapper; ``receive`` is wrapped only on the methods
whose body is counted.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response
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
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_JSON_MEDIA = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The method label's values; any other method (a client can send any token) is ``_OTHER``, as
# the OpenTelemetry HTTP conventions say, so clients cannot add series.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
_log = structlog.get_logger("expsvc.access")

ErrorRenderer = Callable[[Request, Exception], Awaitable[Response]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _new_request_id() -> str:
    # uuid.uuid4().hex, a quarter of the cost (the UUID object is the expensive part).
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    return raw.hex()


def _request_ids(scope: Scope) -> tuple[str, str]:
    """The request id (the client's ``X-Request-ID`` if well-formed, else ours) and the
    server's own, always new: a client can choose, and so repeat, the first, never the second."""
    server_request_id = _new_request_id()
    incoming = _header(scope, _REQUEST_ID_KEY)
    if incoming and _SAFE_REQUEST_ID.fullmatch(incoming):
        return incoming, server_request_id
    return server_request_id, server_request_id


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class RequestMiddleware:
    """Everything a request meets on its way in and out, in one layer.

    * **Request id**: the incoming ``X-Request-ID`` if well-formed, else a new one; in
      ``scope["state"]``, on the response and bound to every log line of the request. Also,
      always, a server request id of our own (``server_request_id``, in the state, the logs
      and the audit rows), which no client can choose.
    * **Metrics and access log**: the in-flight gauge, the duration histogram by route
      template, method and status, and one ``request`` log line.
    * **Timeout**: 503 ``request-timeout`` with ``Retry-After`` once ``timeout`` passes before
      the response starts; once it has started (streams), the deadline is lifted: a stream is
      not a hang.
    * **Body guard** on POST, PUT and PATCH: 413 for a body over ``max_body_bytes`` (declared
      or counted as it arrives), 415 for a body that is not JSON, before anything parses it.
    * **Last resort**: an exception no handler claimed is answered by ``on_error`` (a 500
      problem) here, where the request id is still bound and the answer still gets its
      X-Request-ID; Starlette would answer it in its outermost layer, after both are gone.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics,
        timeout: float,
        retry_after: int,
        max_body_bytes: int,
        on_error: ErrorRenderer,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.timeout = timeout
        self.retry_after = retry_after
        self.max_body_bytes = max_body_bytes
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, server_request_id = _request_ids(scope)
        state = scope.setdefault("state", {})
        state["request_id"], state["server_request_id"] = request_id, server_request_id
        exchange = _Exchange(scope, receive, send, request_id.encode(), self.max_body_bytes)
        writes = scope["method"] in _BODY_METHODS
        begun = time.perf_counter()
        self.metrics.in_flight.inc()
        structlog.contextvars.bind_contextvars(
            request_id=request_id, server_request_id=server_request_id
        )
        try:
            refusal = self._refuse_by_headers(scope) if writes else None
            if refusal is not None:
                await exchange.respond(problem_response(refusal, scope["path"]))
                return
            exchange.arm(self.timeout)
            try:
                try:
                    app_receive = exchange.counting_receive if writes else receive
                    await self.app(scope, app_receive, exchange.send)
                except Exception as error:
                    if exchange.started:
                        raise
                    await exchange.respond(await self._answer(exchange, error))
                else:
                    if exchange.too_large and not exchange.started:
                        await exchange.respond(problem_response(self._too_large(), scope["path"]))
                finally:
                    timed_out = exchange.disarm()
            except asyncio.CancelledError as cancelled:
                if not timed_out:
                    raise
                if exchange.started:
                    raise TimeoutError from cancelled
                await exchange.respond(problem_response(self._timed_out(), scope["path"]))
        finally:
            self._record(scope, exchange.status, time.perf_counter() - begun)
            structlog.contextvars.unbind_contextvars("request_id", "server_request_id")

    async def _answer(self, exchange: _Exchange, error: Exception) -> Response:
        if exchange.too_large:  # the read failed because the body is too large: not a bug
            return problem_response(self._too_large(), exchange.scope["path"])
        return await self.on_error(Request(exchange.scope, exchange.receive), error)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        self.metrics.in_flight.dec()
        method = scope["method"]
        self.metrics.request_duration.labels(
            _route_template(scope), method if method in _KNOWN_METHODS else "_OTHER", str(status)
        ).observe(elapsed)
        _log.info(
            "request",
            method=scope["method"],
            path=scope["path"],
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )

    def _refuse_by_headers(self, scope: Scope) -> ProblemError | None:
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

    def _timed_out(self) -> RequestTimedOut:
        return RequestTimedOut(
            f"the request did not complete within {self.timeout:g} s",
            headers={"Retry-After": str(self.retry_after)},
        )


class _Exchange:
    """One request's state, and the one ``send`` wrapper (and, for bodies, ``receive``).

    The deadline is ``asyncio.timeout`` without its ``async with`` (which cost about 10 µs a
    request, most of it the two coroutines): a timer cancels the request's task; the response's
    start lifts it; :meth:`disarm` tells the deadline's cancellation from anyone else's, with
    the same ``cancelling``/``uncancel`` count.
    """

    __slots__ = (
        "_send",
        "cancelling",
        "expired",
        "max_body_bytes",
        "raw_id",
        "receive",
        "received",
        "scope",
        "started",
        "status",
        "task",
        "timer",
        "too_large",
    )

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, raw_id: bytes, max_body_bytes: int
    ) -> None:
        self.scope = scope
        self.receive = receive
        self._send = send
        self.raw_id = raw_id
        self.status = 500  # until a response starts
        self.started = False
        self.too_large = False  # the app's answer to the failed read is replaced by a 413
        self.received = 0
        self.max_body_bytes = max_body_bytes
        self.timer: asyncio.TimerHandle | None = None
        self.expired = False

    async def send(self, message: Message) -> None:
        if self.too_large and not self.started:
            return  # the framework's 400 for the failed read: the 413 is sent instead
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            self.lift()
            message["headers"] = [*message.get("headers", []), (_REQUEST_ID_KEY, self.raw_id)]
        await self._send(message)

    async def counting_receive(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_body_bytes:
                self.too_large = True
                raise _BodyTooLarge
        return message

    async def respond(self, response: Response) -> None:
        """Send the middleware's own answer (nothing of the app's has been sent)."""
        self.status, self.started = response.status_code, True
        response.raw_headers.append((_REQUEST_ID_KEY, self.raw_id))
        await response(self.scope, self.receive, self._send)

    def arm(self, timeout: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("RequestMiddleware must run inside a task")
        self.task = task
        self.cancelling = task.cancelling()
        self.timer = task.get_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        self.timer = None
        self.expired = True
        self.task.cancel()

    def lift(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def disarm(self) -> bool:
        """Lift the deadline for good; True if it cancelled the task and no one else did."""
        self.lift()
        return self.expired and self.task.uncancel() <= self.cancelling


class _BodyTooLarge(Exception):
    pass
