"""Shared by the event tests: an app with the relay on, reading a Redis Stream, bulk events."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
import uvicorn

from expsvc.app import create_app
from tests.conftest import make_settings

Entry = tuple[str, dict[str, Any]]


@contextlib.asynccontextmanager
async def relay_app(database_url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its in-process relay on (and the given sinks), as an in-process client."""
    app = create_app(make_settings(database_url, relay_enabled=True, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


@contextlib.asynccontextmanager
async def live_app(database_url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its relay on behind a real uvicorn server in this event loop (the ASGI
    transport buffers whole responses, so streams need a socket), and a client of it."""
    app = create_app(make_settings(database_url, relay_enabled=True, **settings))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def feed_until(
    client: httpx.AsyncClient, count: int, deadline: float = 30.0
) -> list[dict[str, Any]]:
    """Poll ``GET /v1/events`` until it holds ``count`` events (sequencing is asynchronous)."""
    stop = time.monotonic() + deadline
    while True:
        response = await client.get("/v1/events", params={"limit": 1000})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        if len(items) >= count:
            return items
        assert time.monotonic() < stop, f"the feed holds {len(items)} of {count} events"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def redis_client(url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(url, socket_timeout=10)
    try:
        yield client
    finally:
        await client.aclose()


def decode(entry: tuple[bytes, dict[bytes, bytes]]) -> Entry:
    entry_id, fields = entry
    return entry_id.decode(), {key.decode(): value.decode() for key, value in fields.items()}


async def read_stream(client: aioredis.Redis, key: str) -> list[Entry]:
    """Every entry of the stream, oldest first (XRANGE in pages)."""
    entries: list[Entry] = []
    start = "-"
    while True:
        page = await client.xrange(key, min=start, count=5000)
        entries += [decode(entry) for entry in page]
        if len(page) < 5000:
            return entries
        start = "(" + page[-1][0].decode()


async def wait_for_stream(
    client: aioredis.Redis, key: str, count: int, deadline: float = 30.0
) -> list[Entry]:
    """Poll until the stream holds at least ``count`` entries, then return them all."""
    stop = time.monotonic() + deadline
    while await client.xlen(key) < count:
        assert time.monotonic() < stop, f"{key}: {await client.xlen(key)} of {count} entries"
        await asyncio.sleep(0.05)
    return await read_stream(client, key)


async def wait_for_last(
    client: aioredis.Redis,
    key: str,
    predicate: Callable[[dict[str, Any]], bool],
    deadline: float = 30.0,
) -> None:
    """Poll until the newest entry's envelope satisfies ``predicate``."""
    stop = time.monotonic() + deadline
    while True:
        newest = await client.xrevrange(key, count=1)
        if newest and predicate(envelope(decode(newest[0]))):
            return
        assert time.monotonic() < stop, f"{key}: the awaited event never arrived"
        await asyncio.sleep(0.05)


def envelope(entry: Entry) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(entry[1]["event"])
    return event


async def insert_events(
    database_url: str, count: int, entities: int = 100, event_type: str = "run.updated"
) -> None:
    """``count`` events straight into the outbox with SQL, round-robin over ``entities`` runs,
    as though that many transactions had committed (volume tests only)."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            WITH entity AS (
                SELECT n, gen_random_uuid() AS id FROM generate_series(0, $2 - 1) AS n
            )
            INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)
            SELECT gen_random_uuid(), $3, 'run', entity.id, clock_timestamp(),
                   jsonb_build_object('run', jsonb_build_object('id', entity.id), 'n', i)
            FROM generate_series(0, $1 - 1) AS i JOIN entity ON entity.n = i % $2
            ORDER BY i
            """,
            count,
            entities,
            event_type,
        )
    finally:
        await connection.close()


async def create_experiments(database_url: str, count: int, per_transaction: int = 100) -> None:
    """``count`` experiments through the service layer (one ``experiment.created`` event each),
    ``per_transaction`` to a transaction: many real events quickly, without HTTP."""
    from expsvc.auth.principal import LOCAL_PRINCIPAL
    from expsvc.context import ActionContext
    from expsvc.db import Database, create_engine
    from expsvc.experiment.schemas import ExperimentCreate
    from expsvc.experiment.service import ExperimentService

    settings = make_settings(database_url)
    database = Database(create_engine(settings, database_url))
    context = ActionContext(principal=LOCAL_PRINCIPAL, request_id="reliability-test")
    try:
        for start in range(0, count, per_transaction):
            async with database.sessionmaker() as session, session.begin():
                service = ExperimentService(session)
                for index in range(start, min(count, start + per_transaction)):
                    await service.create(context, ExperimentCreate(name=f"e{index}"))
    finally:
        await database.dispose()


async def outbox_event_ids(database_url: str) -> list[str]:
    """Every event id in the outbox, in log order."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT event_id FROM outbox_events ORDER BY seq, id")
        return [str(row["event_id"]) for row in rows]
    finally:
        await connection.close()
