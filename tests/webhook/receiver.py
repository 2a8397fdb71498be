"""A real HTTP server standing in for a webhook receiver: records requests, answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOLD_LIMIT = 60.0


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"
    # Set: the answer waits until the test sets it (at most HOLD_LIMIT s), so a test knows an
    # attempt is in flight for as long as it needs, without racing a timer.
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """``script(...)`` queues replies (then ``default`` answers); ``received`` lists requests."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.default = Reply()
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    async def wait_for(
        self, count: int, path: str | None = None, deadline: float = 10.0
    ) -> list[Received]:
        """Poll until ``count`` requests (to ``path``) arrived; fail after ``deadline`` s."""
        stop = time.monotonic() + deadline
        while len(found := self.requests(path)) < count:
            assert time.monotonic() < stop, f"{len(found)} of {count} requests arrived"
            await asyncio.sleep(0.02)
        return found

    def _next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            return self._script.pop(0) if self._script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                reply = receiver._next_reply(Received(self.path, headers, body, time.time()))
                if reply.hold is not None:
                    reply.hold.wait(HOLD_LIMIT)
                if reply.delay:
                    time.sleep(reply.delay)
                with contextlib.suppress(OSError):  # the sender may have given up
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
