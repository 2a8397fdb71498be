"""Exports are capped per process (503 ``export-capacity`` before a connection is taken) and a
client that stops reading loses its export after ``EXPSVC_EXPORT_STALL_SECONDS``."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from expsvc.settings import Settings
from tests.conftest import make_settings
from tests.export.conftest import ServeFactory, backends_in_transaction, seed_runs
from tests.export.test_streaming import PausedExport, _until, reader
from tests.helpers import create_run
from tests.problems import assert_problem

MAX_CONCURRENT = 2


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, export_max_concurrent=MAX_CONCURRENT)


async def test_an_export_beyond_the_cap_is_refused_until_one_ends(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await create_run(client)
    pool = app.state.database.engine.pool
    holders = [PausedExport(app, "") for _ in range(MAX_CONCURRENT)]
    for holder in holders:
        await asyncio.wait_for(holder.first.wait(), 10)
    assert pool.checkedout() == MAX_CONCURRENT

    refused = await client.get("/v1/runs/export")
    problem = assert_problem(refused, 503, "export-capacity")
    assert refused.headers["retry-after"] == str(app.state.settings.retry_after_seconds)
    assert problem["max_concurrent"] == MAX_CONCURRENT
    assert pool.checkedout() == MAX_CONCURRENT  # refused before taking a connection
    other = await client.get("/v1/experiments/export")
    assert_problem(other, 503, "export-capacity")  # one cap for both exports
    assert (await client.get("/v1/runs")).status_code == 200  # the rest of the API is not

    holders[0].resume()
    await asyncio.wait_for(holders[0].task, 10)
    admitted = await client.get("/v1/runs/export", params={"format": "csv"})
    assert admitted.status_code == 200, admitted.text

    holders[1].resume()
    await asyncio.wait_for(holders[1].task, 10)
    assert pool.checkedout() == 0
    assert app.state.export_slots.taken == 0


async def test_a_refused_or_failed_export_gives_its_slot_back(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(MAX_CONCURRENT + 1):
        invalid = await client.get("/v1/runs/export", params={"fields": "nope"})
        assert_problem(invalid, 422, "validation-error")
    assert app.state.export_slots.taken == 0
    assert (await client.get("/v1/runs/export")).status_code == 200


def test_a_client_that_stops_reading_is_cut_off(serve: ServeFactory, database_url: str) -> None:
    seed_runs(database_url, 30_000)  # megabytes: far more than the socket buffers hold
    served = serve(export_stall_seconds=1, export_max_concurrent=1)
    pool = served.pool()
    with capture_logs() as logs, reader(served) as raw:
        raw.sendall(b"GET /v1/runs/export HTTP/1.1\r\nHost: t\r\n\r\n")
        received = raw.recv(1024)
        assert received.startswith(b"HTTP/1.1 200")
        # We read no more: the export waits on us, then gives up (1 s, with room to spare).
        assert _until(lambda: pool.checkedout() == 0, deadline=60), "the export kept its slot"
        assert served.app.state.export_slots.taken == 0
        assert backends_in_transaction(database_url) == 0
        # The next export is admitted while the stalled client is still connected.
        again = httpx.get(f"{served.url}/v1/runs/export", params={"fields": "id"}, timeout=60)
        assert len(again.text.splitlines()) == 30_000

        # What the stalled client gets, when it reads again: the buffered bytes, then the end
        # of the connection without the last chunk (it can tell the export was cut short).
        raw.settimeout(30)
        rest = bytearray(received)
        with contextlib.suppress(ConnectionError, TimeoutError, socket.timeout):
            while chunk := raw.recv(65536):
                rest += chunk
        assert not rest.endswith(b"\r\n0\r\n\r\n")
    assert any(
        entry["log_level"] == "warning" and "stopped reading" in entry["event"] for entry in logs
    ), logs
