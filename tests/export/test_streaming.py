"""Exports stream from one snapshot and give their connection back however they end: read to
the end, or abandoned by a client that went away mid-stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from expsvc.export import service as export_service
from tests.export.conftest import Served, ServeFactory, backends_in_transaction, seed_runs
from tests.helpers import create_experiment, create_run


def _until(condition: Callable[[], bool], deadline: float = 15.0) -> bool:
    stop = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > stop:
            return False
        time.sleep(0.05)
    return True


def reader(served: Served) -> socket.socket:
    """A connection to ``served`` with a small receive buffer: a few kilobytes unread stop
    the server's writes (a 12 MB export cannot slip into the socket buffers unread)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", int(served.url.rsplit(":", 1)[1])))
    return raw


class PausedExport:
    """An export driven through the ASGI app itself (httpx's ASGI transport would buffer it
    all): it stops sending after its first chunk until :meth:`resume`."""

    def __init__(self, app: FastAPI, query: str) -> None:
        self.chunks: list[bytes] = []
        self.first = asyncio.Event()
        self.paused = asyncio.Event()
        self.done = asyncio.Event()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/v1/runs/export", "raw_path": b"/v1/runs/export",
            "root_path": "", "query_string": query.encode(), "headers": [],
            "client": ("127.0.0.1", 40000), "server": ("t", 80),
        }  # fmt: skip
        self.task = asyncio.create_task(app(scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if not hasattr(self, "_requested"):
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.done.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body" or not message.get("body"):
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.done.set()
            return
        self.chunks.append(message["body"])
        if not self.first.is_set():
            self.first.set()
            await self.paused.wait()

    def resume(self) -> None:
        self.paused.set()

    def items(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in b"".join(self.chunks).splitlines()]


async def test_an_export_is_one_snapshot(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_service, "BATCH_SIZE", 2)  # several fetches from the cursor
    experiment = await create_experiment(client)
    runs = [await create_run(client, experiment["id"], name=f"r{i}") for i in range(6)]
    export = PausedExport(app, "fields=id,name")
    await asyncio.wait_for(export.first.wait(), 10)
    assert len(export.items()) == 2

    # Committed while the export is half sent: not in it, however many fetches come after.
    last = runs[-1]["id"]
    renamed = await client.patch(f"/v1/runs/{last}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    added = await create_run(client, experiment["id"], name="added")

    export.resume()
    await asyncio.wait_for(export.task, 10)
    assert export.items() == [{"id": run["id"], "name": run["name"]} for run in runs]
    assert added["id"] > last  # it would have come last
    assert app.state.database.engine.pool.checkedout() == 0


async def test_a_failing_export_gives_its_connection_back(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_run(client)

    def broken(self: object, rows: Any) -> bytes:
        raise RuntimeError("encoding failed")

    monkeypatch.setattr(export_service.ENCODERS[export_service.ExportFormat.jsonl], "rows", broken)
    export = PausedExport(app, "")
    with pytest.raises(RuntimeError, match="encoding failed"):
        await asyncio.wait_for(export.task, 10)
    assert app.state.database.engine.pool.checkedout() == 0
    ok = await client.get("/v1/runs/export", params={"format": "csv"})
    assert ok.status_code == 200


def test_a_client_gone_mid_stream_gives_the_connection_back(
    serve: ServeFactory, database_url: str
) -> None:
    seed_runs(database_url, 30_000)  # megabytes: the server is still sending when we leave
    served = serve()
    pool = served.pool()
    warm = httpx.get(f"{served.url}/v1/runs/export", params={"fields": "id"}, timeout=60)
    assert len(warm.text.splitlines()) == 30_000
    assert _until(lambda: pool.checkedout() == 0)
    checked_in = pool.checkedin()

    with reader(served) as raw:
        raw.sendall(b"GET /v1/runs/export?format=csv HTTP/1.1\r\nHost: t\r\n\r\n")
        received = raw.recv(65536)
        assert received.startswith(b"HTTP/1.1 200")
        assert pool.checkedout() == 1
        assert backends_in_transaction(database_url) == 1  # the export's snapshot
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    # Closed with a reset, unread data and all: the server learns at once.

    assert _until(lambda: pool.checkedout() == 0), "the export kept its connection"
    assert pool.checkedin() >= checked_in
    assert backends_in_transaction(database_url) == 0
    again = httpx.get(f"{served.url}/v1/runs/export", params={"fields": "id"}, timeout=60)
    assert len(again.text.splitlines()) == 30_000


def test_a_client_that_stops_reading_holds_one_connection_only(
    serve: ServeFactory, database_url: str
) -> None:
    seed_runs(database_url, 30_000)
    served = serve()
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            raw = stack.enter_context(reader(served))
            raw.sendall(b"GET /v1/runs/export HTTP/1.1\r\nHost: t\r\n\r\n")
            assert raw.recv(1024).startswith(b"HTTP/1.1 200")
        # Both exports wait on their readers (backpressure), each on its own connection; the
        # rest of the service is not starved.
        assert served.pool().checkedout() == 2
        assert httpx.get(f"{served.url}/v1/experiments", timeout=10).status_code == 200
    assert _until(lambda: served.pool().checkedout() == 0)
