"""Private primaries and replicas for the chaos tests (:mod:`tests.pgcluster`)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.settings import LogFormat, Settings
from tests import pgcluster
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE, TEST_SECRET_KEY
from tests.pgcluster import Cluster, clusters, prepare_service_database, require_server_binaries

DATABASE = "expsvc"


def report(capsys: pytest.CaptureFixture[str], scenario: str, **figures: object) -> None:
    """Print a scenario's figures past pytest's capture (they are the test's output)."""
    text = ", ".join(f"{name}={value}" for name, value in figures.items())
    with capsys.disabled():
        sys.stdout.write(f"\n[chaos: {scenario}] {text}\n")


def prepare(primary: Cluster) -> None:
    """The service's roles and database on ``primary``, migrated to head by the owner role."""
    prepare_service_database(primary, DATABASE, OWNER_ROLE, RUNTIME_ROLE)


def multi_host_url(*members: Cluster, user: str = RUNTIME_ROLE) -> str:
    """libpq's form: every member, the one that takes writes is used."""
    return pgcluster.multi_host_url(*members, database=DATABASE, user=user)


def chaos_settings(url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "log_format": LogFormat.console,
        "log_level": "CRITICAL",
        "relay_enabled": False,
        "secret_keys": TEST_SECRET_KEY,
        "db_connect_timeout": 1.0,
        "retry_after_seconds": 1,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on ``settings``, started (lifespan) and reached in process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        ) as http:
            yield app, http


@dataclass
class Pair:
    primary: Cluster
    replica: Cluster

    @property
    def url(self) -> str:
        return multi_host_url(self.primary, self.replica)


@pytest.fixture(scope="session")
def migrated_pgdata() -> Iterator[Path]:
    """A stopped cluster's data directory with the service's roles and database at migration
    head, made once per session; each test's cluster starts from a copy of it."""
    require_server_binaries()
    with clusters():
        template = Cluster("template").initdb()
        template.start()
        prepare(template)
        template.stop()
        yield template.pgdata


@pytest.fixture
def pg_pair(migrated_pgdata: Path) -> Iterator[Pair]:
    """A migrated primary and its synchronous streaming replica, removed afterwards."""
    with clusters():
        primary = Cluster("primary").copy_of(migrated_pgdata)
        primary.start()
        replica = primary.replica("replica1", synchronous=True)
        yield Pair(primary, replica)


@pytest.fixture
def pg_single(migrated_pgdata: Path) -> Iterator[Cluster]:
    """One migrated private PostgreSQL (to restart and kill), removed afterwards."""
    with clusters():
        primary = Cluster("single").copy_of(migrated_pgdata)
        primary.start()
        yield primary


@dataclass
class WriteLoad:
    """Concurrent loops of ``POST /v1/experiments``, each with an Idempotency-Key; a 503 is
    retried with the same key (after a short pause, not the Retry-After: the test is timed)."""

    http: httpx.AsyncClient
    loops: int = 8
    acknowledged: dict[str, str] = field(default_factory=dict)  # name -> id
    requests: int = 0
    unavailable: int = 0
    other_failures: list[str] = field(default_factory=list)
    last_failure: float = 0.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _one(self, name: str) -> None:
        key = str(uuid.uuid4())
        while not self.stop.is_set():
            self.requests += 1
            try:
                response = await self.http.post(
                    "/v1/experiments", json={"name": name}, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError:  # a killed server process
                self.unavailable += 1
                self.last_failure = time.monotonic()
                await asyncio.sleep(0.05)
                continue
            if response.status_code in (200, 201):
                self.acknowledged[name] = response.json()["id"]
                return
            if response.status_code == 503:
                assert int(response.headers["retry-after"]) >= 1, response.headers
                self.unavailable += 1
                self.last_failure = time.monotonic()
                await asyncio.sleep(0.05)
                continue
            self.other_failures.append(f"{response.status_code} {response.text[:300]}")
            return

    async def _loop(self, index: int) -> None:
        for number in range(1_000_000):
            if self.stop.is_set():
                return
            await self._one(f"load-{index}-{number}")

    async def run_until(self, done: Callable[[], Awaitable[None]]) -> None:
        tasks = [asyncio.create_task(self._loop(index)) for index in range(self.loops)]
        try:
            await done()
        finally:
            self.stop.set()
            await asyncio.gather(*tasks)

    async def wait_acknowledged(self, count: int, deadline: float = 30.0) -> None:
        until = time.monotonic() + deadline
        while len(self.acknowledged) < count:
            assert time.monotonic() < until, (len(self.acknowledged), self.other_failures[:3])
            await asyncio.sleep(0.01)
