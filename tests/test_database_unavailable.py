"""Without its database the service answers 503 + Retry-After quickly, and recovers by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from expsvc.app import create_app
from expsvc.embedded import EmbeddedPostgres, start_embedded_postgres
from expsvc.migrate import upgrade
from expsvc.settings import Settings
from tests.conftest import _admin, make_settings
from tests.problems import assert_problem

CONNECT_TIMEOUT = 0.5
MARGIN = 1.5  # event-loop and pool overhead on a busy 2-core CI machine
CLOSED_PORT_URL = "postgresql://postgres@127.0.0.1:1/x"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A TCP port that accepts connections and never answers: a hung database."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/x"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert_problem(response, 503, "database-unavailable")
    assert int(response.headers["retry-after"]) >= 1
    assert elapsed < CONNECT_TIMEOUT + MARGIN, f"took {elapsed:.2f} s"


@pytest.fixture(params=["closed-port", "silent-server"])
async def unreachable_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "closed-port":
        yield CLOSED_PORT_URL
        return
    async with silent_server() as url:
        yield url


async def test_writes_and_reads_answer_503_within_the_connect_timeout(
    unreachable_url: str,
) -> None:
    settings = make_settings(unreachable_url, db_connect_timeout=CONNECT_TIMEOUT)
    async with running(settings) as (_, http):
        assert_unavailable(*await timed(http.post("/v1/experiments", json={"name": "x"})))
        assert_unavailable(*await timed(http.get("/v1/experiments")))
        assert_unavailable(
            *await timed(http.get("/v1/experiments/0190d4e4-6f11-7000-8000-000000000000"))
        )


async def test_ready_is_503_when_the_database_is_unreachable(unreachable_url: str) -> None:
    settings = make_settings(unreachable_url, db_connect_timeout=CONNECT_TIMEOUT)
    async with running(settings) as (_, http):
        response, elapsed = await timed(http.get("/health/ready"))
        problem = assert_problem(response, 503, "not-ready")
        assert response.headers["retry-after"]
        assert problem["checks"]["database"].startswith("unreachable")
        assert elapsed < CONNECT_TIMEOUT + MARGIN
        live = await http.get("/health/live")
        assert live.status_code == 200


# --- recovery after a real PostgreSQL restart ---------------------------------------------


def pg_ctl_stop(embedded: EmbeddedPostgres) -> None:
    from pgserver._commands import pg_ctl

    server: Any = embedded.server
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def pg_start(embedded: EmbeddedPostgres) -> None:
    server: Any = embedded.server
    server.ensure_postgres_running()


async def poll(
    call: Callable[[], Awaitable[httpx.Response]], status: int, deadline: float
) -> httpx.Response:
    """Call until the answer has this status or the deadline (seconds from now) passes."""
    until = time.monotonic() + deadline
    while True:
        response = await call()
        if response.status_code == status or time.monotonic() > until:
            return response
        await asyncio.sleep(0.05)


@pytest.fixture
async def private_postgres(tmp_path: Path) -> AsyncIterator[EmbeddedPostgres]:
    embedded = await asyncio.to_thread(start_embedded_postgres, tmp_path / "data")
    try:
        await asyncio.to_thread(upgrade, embedded.owner_url)
        yield embedded
    finally:
        server: Any = embedded.server
        await asyncio.to_thread(server.cleanup)  # stops it unless already stopped


async def test_service_recovers_by_itself_after_a_database_restart(
    private_postgres: EmbeddedPostgres,
) -> None:
    settings = make_settings(private_postgres.url, db_connect_timeout=CONNECT_TIMEOUT)
    async with running(settings) as (_, http):
        created = await http.post("/v1/experiments", json={"name": "survivor"})
        assert created.status_code == 201, created.text
        url = f"/v1/experiments/{created.json()['id']}"

        await asyncio.to_thread(pg_ctl_stop, private_postgres)
        assert_unavailable(*await timed(http.get(url)))
        assert_unavailable(*await timed(http.post("/v1/experiments", json={"name": "lost"})))
        assert (await http.get("/health/ready")).status_code == 503

        await asyncio.to_thread(pg_start, private_postgres)
        fetched = await poll(lambda: http.get(url), 200, deadline=15)
        assert fetched.status_code == 200, fetched.text
        assert fetched.json() == created.json()
        assert (await http.get("/health/ready")).status_code == 200
        again = await http.post("/v1/experiments", json={"name": "after"})
        assert again.status_code == 201, again.text
        names = [item["name"] for item in (await http.get("/v1/experiments")).json()["items"]]
        assert sorted(names) == ["after", "survivor"]


async def test_restart_between_requests_costs_no_request(
    private_postgres: EmbeddedPostgres,
) -> None:
    settings = make_settings(private_postgres.url, db_connect_timeout=CONNECT_TIMEOUT)
    async with running(settings) as (_, http):
        created = await http.post("/v1/experiments", json={"name": "pooled"})
        assert created.status_code == 201, created.text
        # The pool now holds a connection the restart kills; it must be replaced, not used.
        await asyncio.to_thread(pg_ctl_stop, private_postgres)
        await asyncio.to_thread(pg_start, private_postgres)
        fetched = await http.get(f"/v1/experiments/{created.json()['id']}")
        assert fetched.status_code == 200, fetched.text


async def test_a_database_that_takes_no_writes_is_503_not_500(database_url: str) -> None:
    """A restored server accepts connections while it still replays its WAL (hot standby), and
    a URL may point at a replica: writes fail with SQLSTATE 25006 there. Found by the restore
    drill (bench/drills/restore.py), where those writes answered 500."""
    settings = make_settings(database_url, retry_after_seconds=3)
    read_only = (
        f'ALTER DATABASE "{make_url(database_url).database}" SET default_transaction_read_only = on'
    )
    await _admin(database_url, read_only)
    async with running(settings) as (_, http):
        response = await http.post("/v1/experiments", json={"name": "during recovery"})
        listed = await http.get("/v1/experiments")
    problem = assert_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"] == "3"
    assert "takes no writes" in problem["detail"]
    assert listed.status_code == 200, listed.text  # reads go on
