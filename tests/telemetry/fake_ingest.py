"""A real HTTP server standing in for Telemetry Ingest's status API (docs/integrations.md)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FakeIngest:
    """``sessions`` maps capture_session_id to what Ingest says of it; ``failing`` makes every
    request answer that status; ``requests`` records the ids asked about and the headers."""

    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.failing: int | None = None
        self.requests: list[tuple[list[str], dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def say(self, capture_session_id: str, status: str, **fields: Any) -> None:
        with self._lock:
            self.sessions[capture_session_id] = {
                "capture_session_id": capture_session_id,
                "status": status,
                **fields,
            }

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        ids = parse_qs(parts.query).get("capture_session_id", [])
        with self._lock:
            self.requests.append((ids, headers))
            if self.failing is not None:
                return self.failing, {"error": "unavailable"}
            if parts.path != "/v1/capture-sessions":
                return 404, {}
            return 200, {"sessions": [self.sessions[i] for i in ids if i in self.sessions]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, body = ingest._answer(self.path, headers)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> FakeIngest:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
