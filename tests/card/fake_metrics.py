"""A real HTTP server standing in for the Metrics Service (docs/integrations.md#metrics-card)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeMetrics:
    """``aggregates`` maps a run id to its aggregates (others: 404). ``delay`` makes every
    answer that slow, ``hold`` keeps every answer until ``release`` is set (``stop`` sets it),
    ``status`` makes every answer that status, ``body`` replaces the body, ``drop`` closes
    connections without an answer. ``requests`` records (path, headers)."""

    def __init__(self) -> None:
        self.aggregates: dict[str, dict[str, Any]] = {}
        self.delay = 0.0
        self.hold = False
        self.release = threading.Event()
        self.status: int | None = None
        self.body: bytes | None = None
        self.drop = False
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def healthy(self) -> None:
        self.delay, self.hold, self.status, self.body, self.drop = 0.0, False, None, None, False

    def _answer(self, path: str) -> tuple[int, bytes]:
        if self.status is not None:
            return self.status, b'{"error": "unavailable"}'
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "runs"] or parts[3] != "aggregates":
            return 404, b"{}"
        run_id = parts[2]
        if self.body is not None:
            return 200, self.body
        if run_id not in self.aggregates:
            return 404, b'{"error": "no metrics for this run"}'
        answer = {
            "run_id": run_id,
            "updated_at": "2026-11-26T10:00:00Z",
            "aggregates": self.aggregates[run_id],
        }
        return 200, json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with fake._lock:
                    fake.requests.append(
                        (self.path, {k.lower(): v for k, v in self.headers.items()})
                    )
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.hold:
                    fake.release.wait(timeout=60)
                if fake.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                status, payload = fake._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> FakeMetrics:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()  # held answers go out: server_close waits for their threads
        self._server.shutdown()
        self._server.server_close()
