"""The route class's transaction rules against real PostgreSQL failures.

A deadlock is retried once inside the route, and answered 503 if it comes back; a connection
lost during COMMIT is 503 ``commit-outcome-unknown``; pooled connections that died while idle
cost the client nothing (the request runs again on a fresh connection).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from expsvc.routing import DbSession, TransactionalRoute
from expsvc.settings import Settings
from tests.conftest import make_settings
from tests.problems import assert_problem

PROBE_TABLE = "CREATE TABLE routing_probe (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)"


class Script:
    """What the probe endpoints do on each attempt, set by each test."""

    def __init__(self) -> None:
        self.attempts = 0
        self.locked_first_row = asyncio.Event()
        self.other_is_waiting = asyncio.Event()
        self.database_url = ""


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[Script]:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(PROBE_TABLE)
        await connection.execute("INSERT INTO routing_probe (id) VALUES (1), (2)")
    finally:
        await connection.close()
    script = Script()
    script.database_url = database_url
    return script


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The probes set deadlock_timeout (a superuser's parameter) on a table the test made as the
    superuser: this module's app runs as the server URL's role, not the runtime role."""
    return make_settings(database_url).model_copy(update={"database_url": database_url})


@pytest.fixture
async def probed_client(app: FastAPI, probe: Script) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(_probe_router(probe))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def _probe_router(script: Script) -> APIRouter:
    router = APIRouter(prefix="/probe", route_class=TransactionalRoute)

    @router.post("/deadlock")
    async def deadlock(session: DbSession) -> dict[str, Any]:
        script.attempts += 1
        # This transaction detects the cycle first, so it is the one PostgreSQL aborts.
        await session.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        await session.execute(text("UPDATE routing_probe SET n = n + 1 WHERE id = 1"))
        if script.attempts == 1:
            script.locked_first_row.set()
            await script.other_is_waiting.wait()
        await session.execute(text("UPDATE routing_probe SET n = n + 1 WHERE id = 2"))
        return {"attempts": script.attempts}

    @router.post("/always-deadlocked")
    async def always_deadlocked(session: DbSession) -> dict[str, Any]:
        script.attempts += 1
        await session.execute(text("UPDATE routing_probe SET n = n + 1 WHERE id = 1"))
        await session.execute(
            text("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")
        )
        return {}

    @router.post("/lose-connection-before-commit")
    async def lose_connection(session: DbSession) -> dict[str, Any]:
        script.attempts += 1
        await session.execute(text("UPDATE routing_probe SET n = n + 1 WHERE id = 1"))
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        other = await asyncpg.connect(script.database_url)
        try:
            await other.execute("SELECT pg_terminate_backend($1)", pid)
            await _wait_until_gone(other, pid)
        finally:
            await other.close()
        return {}

    return router


async def _wait_until_gone(connection: asyncpg.Connection, pid: int) -> None:
    for _ in range(500):
        if not await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} did not go away")


async def _wait_until_blocked(database_url: str, pid: int) -> None:
    watcher = await asyncpg.connect(database_url)
    try:
        for _ in range(1000):
            if await watcher.fetchval(
                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
            ):
                return
            await asyncio.sleep(0.01)
    finally:
        await watcher.close()
    raise AssertionError(f"backend {pid} never waited for a lock")


async def _counts(database_url: str) -> dict[int, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, n FROM routing_probe ORDER BY id")
    finally:
        await connection.close()
    return {row["id"]: row["n"] for row in rows}


async def _hold_second_then_wait_for_first(script: Script) -> None:
    """The other side of the deadlock: row 2, then row 1 (which the request holds)."""
    await script.locked_first_row.wait()
    connection = await asyncpg.connect(script.database_url)
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL deadlock_timeout = '10s'")
            await connection.execute("UPDATE routing_probe SET n = n + 1 WHERE id = 2")
            pid = await connection.fetchval("SELECT pg_backend_pid()")
            blocked = asyncio.create_task(
                connection.execute("UPDATE routing_probe SET n = n + 1 WHERE id = 1")
            )
            await _wait_until_blocked(script.database_url, pid)
            script.other_is_waiting.set()
            await blocked  # granted once PostgreSQL aborts the request's first attempt
    finally:
        await connection.close()


async def test_a_deadlock_is_retried_once_and_applied_once(
    probed_client: httpx.AsyncClient, probe: Script
) -> None:
    other = asyncio.create_task(_hold_second_then_wait_for_first(probe))
    response = await probed_client.post("/probe/deadlock")
    await other
    assert response.status_code == 200, response.text
    assert response.json() == {"attempts": 2}
    # The aborted attempt left nothing; the other transaction and the retry each added one.
    assert await _counts(probe.database_url) == {1: 2, 2: 2}


async def test_a_deadlock_that_comes_back_is_503_and_applies_nothing(
    probed_client: httpx.AsyncClient, probe: Script
) -> None:
    response = await probed_client.post("/probe/always-deadlocked")
    assert_problem(response, 503, "transaction-aborted")
    assert response.headers["Retry-After"]
    assert probe.attempts == 2
    assert await _counts(probe.database_url) == {1: 0, 2: 0}


async def test_a_connection_lost_during_commit_is_503_commit_outcome_unknown(
    probed_client: httpx.AsyncClient, probe: Script
) -> None:
    response = await probed_client.post("/probe/lose-connection-before-commit")
    problem = assert_problem(response, 503, "commit-outcome-unknown")
    assert "Idempotency-Key" in problem["detail"]
    assert response.headers["Retry-After"]
    assert probe.attempts == 1  # never run again by the route: it may have been applied
    assert await _counts(probe.database_url) == {1: 0, 2: 0}
    # The pool recovers by itself.
    assert (await probed_client.get(f"/v1/runs/{uuid.uuid4()}")).status_code == 404


async def test_pooled_connections_killed_while_idle_cost_the_client_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # Several pooled connections, then every backend of the service dies (a restart, a proxy).
    warm = await asyncio.gather(*(client.get(f"/v1/runs/{uuid.uuid4()}") for _ in range(5)))
    assert {r.status_code for r in warm} == {404}
    connection = await asyncpg.connect(database_url)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'expsvc'"
        )
    finally:
        await connection.close()
    assert killed >= 1
    read = await client.get(f"/v1/runs/{uuid.uuid4()}")
    assert read.status_code == 404, read.text
    created = await client.post("/v1/experiments", json={"name": "after the restart"})
    assert created.status_code == 201, created.text
    listed = await client.get("/v1/experiments")
    assert [e["id"] for e in listed.json()["items"]] == [created.json()["id"]]
