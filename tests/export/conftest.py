from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.seed import SeedPlan, seed_demo_data
from tests.conftest import make_settings

START_DEADLINE = 30.0
QUIET = {
    "reaper_interval_seconds": 0,
    "capture_reconcile_interval_seconds": 0,
    "idempotency_purge_interval_seconds": 0,
}


@dataclass(frozen=True)
class Served:
    """An app served by uvicorn (httptools, as ``expsvc serve`` does) in a thread of its own."""

    url: str
    app: FastAPI

    def pool(self) -> Any:
        return self.app.state.database.engine.pool


@contextmanager
def serving(app: FastAPI) -> Iterator[Served]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", http="httptools", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.02)
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


ServeFactory = Callable[..., Served]


@pytest.fixture
def serve(database_url: str) -> Iterator[ServeFactory]:
    """Serve the app on the test's database with these settings overrides; no background jobs
    (their connections would blur what a test sees of the pool)."""
    with ExitStack() as stack:

        def start(**overrides: object) -> Served:
            settings = make_settings(database_url, **{**QUIET, **overrides})
            return stack.enter_context(serving(create_app(settings)))

        yield start


def seed_runs(database_url: str, runs: int, experiments: int = 4) -> None:
    """``runs`` runs (in ``experiments`` experiments) made by ``expsvc seed``'s module."""
    plan = SeedPlan(experiments=experiments, runs=runs, capture_ratio=0)
    asyncio.run(seed_demo_data(make_settings(database_url), database_url, plan, lambda done: None))


def backends_in_transaction(database_url: str) -> int:
    """The service's connections to the test's database that are inside a transaction."""

    async def count() -> int:
        connection = await asyncpg.connect(database_url)
        try:
            return int(
                await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'expsvc' AND xact_start IS NOT NULL"
                )
            )
        finally:
            await connection.close()

    return asyncio.run(count())
