"""Engine and sessions.

No pre-ping on checkout (a round trip on every request): a connection that died while pooled
fails its first statement, SQLAlchemy then invalidates the whole pool, and the route runs the
request again on a fresh connection (:mod:`expsvc.routing`). :func:`failed_on_first_statement`
tells such a failure from one in the middle of a transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import orjson
from prometheus_client import CollectorRegistry
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from expsvc.driver import STATEMENTS_OK, read_sessions
from expsvc.listen import Listener
from expsvc.observability.domain import METRICS_INFO_KEY, DomainMetrics
from expsvc.observability.pool import PoolCollector
from expsvc.repository import json_text
from expsvc.settings import Settings

if TYPE_CHECKING:
    from expsvc.replica import Replica

# The key marking a wrapped error raised by its checkout's first statement.
_FIRST_STATEMENT_ATTR = "expsvc_failed_on_first_statement"


def async_database_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the asyncpg dialect SQLAlchemy needs.

    Several hosts (a primary and its replicas; ``target_session_attrs=read-write`` picks the one
    that takes writes) may be written as libpq does, ``postgresql://u@h1:5432,h2:5432/db`` or
    ``?host=h1,h2&port=5432,5432``, or as SQLAlchemy does, ``?host=h1:5432&host=h2:5432``.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError(f"only PostgreSQL is supported, got {parsed.drivername!r}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_database_url(url: str | URL) -> str:
    """The URL as a plain ``postgresql://`` DSN, for asyncpg connections of our own (several
    hosts as asyncpg and libpq read them: ``h1:p1,h2:p2`` in the authority)."""
    parsed = database_url(url).set(drivername="postgresql")
    hosts = _host_list(parsed)
    if len(hosts) < 2:
        return parsed.render_as_string(hide_password=False)
    rest = parsed.set(query={k: v for k, v in parsed.query.items() if k != "host"})
    rendered = rest.render_as_string(hide_password=False)
    scheme, _, tail = rendered.partition("://")
    userinfo, _, path = tail.rpartition("@") if "@" in tail.split("/", 1)[0] else ("", "", tail)
    authority = ",".join(hosts)
    return f"{scheme}://{userinfo + '@' if userinfo else ''}{authority}{path}"


def database_url(url: str | URL) -> URL:
    """Parse a PostgreSQL URL, several hosts included, into SQLAlchemy's form of them."""
    if isinstance(url, URL):
        return url
    scheme, sep, tail = url.partition("://")
    authority, slash, path = tail.partition("/")
    userinfo, at, hostports = authority.rpartition("@")
    if sep and "," in hostports:
        # libpq's h1:p1,h2:p2 authority, which SQLAlchemy cannot parse: move it to the query.
        hosts = "&".join(f"host={hostport}" for hostport in hostports.split(","))
        path_part, _, given = (slash + path).partition("?")
        joined = f"{hosts}&{given}" if given else hosts
        url = f"{scheme}://{userinfo}{at}{path_part or '/'}?{joined}"
    parsed = make_url(url)
    host, port = parsed.query.get("host"), parsed.query.get("port")
    if isinstance(host, str) and "," in host:
        # libpq's ?host=h1,h2&port=p1,p2 (one port for all, or one each).
        names = host.split(",")
        ports = port.split(",") if isinstance(port, str) else [str(parsed.port or 5432)]
        ports = ports * len(names) if len(ports) == 1 else ports
        rest = {k: v for k, v in parsed.query.items() if k not in {"host", "port"}}
        hosts_ports = tuple(f"{n}:{p}" for n, p in zip(names, ports, strict=True))
        parsed = parsed.set(query={**rest, "host": hosts_ports})
    return parsed


def _host_list(url: URL) -> list[str]:
    host = url.query.get("host")
    return list(host) if isinstance(host, tuple) else []


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    server_settings = {"application_name": "expsvc"}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    if settings.db_parallel_workers_per_gather is not None:
        workers = str(settings.db_parallel_workers_per_gather)
        server_settings["max_parallel_workers_per_gather"] = workers
    engine = create_async_engine(
        async_database_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
        connect_args={"timeout": settings.db_connect_timeout, "server_settings": server_settings},
        # orjson for JSONB both ways (the stdlib's json was a twentieth of a list's CPU).
        json_deserializer=orjson.loads,
        json_serializer=json_text,
        # An error's text (logged, and wrapped in tracebacks) shows the SQL, never the bound
        # values: they can hold secrets and personal data (docs/adr/0011).
        hide_parameters=True,
    )
    _track_first_statements(engine)
    return engine


def _track_first_statements(engine: AsyncEngine) -> None:
    """Count each checkout's successful statements, and mark an error raised by the first."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        record.info[STATEMENTS_OK] = 0

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _executed(conn: Any, *args: Any) -> None:
        conn.info[STATEMENTS_OK] = conn.info.get(STATEMENTS_OK, 0) + 1

    @event.listens_for(sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        _forget_row_values(context.original_exception)
        connection, wrapped = context.connection, context.sqlalchemy_exception
        # No wrapped error: not a driver error (a cancellation, a timeout of our own).
        if context.is_disconnect and connection is not None and wrapped is not None:
            first = not connection.info.get(STATEMENTS_OK, 0)
            setattr(wrapped, _FIRST_STATEMENT_ATTR, first)


def _forget_row_values(error: BaseException | None) -> None:
    """Drop PostgreSQL's DETAIL from the driver's error: it quotes the failing row or key
    (``Key (name)=(…) already exists``), data that ``hide_parameters`` keeps out of the SQL
    part of the error text, and it would reach the logs through the chained traceback."""
    for _ in range(4):  # SQLAlchemy's adapter error, then asyncpg's as its cause
        if error is None:
            return
        if isinstance(error, asyncpg.PostgresError):
            error.detail = None
        error = error.__cause__ or error.__context__


def failed_on_first_statement(error: sa_exc.DBAPIError) -> bool:
    """The connection was found dead by the first statement of its checkout (nothing written)."""
    return bool(getattr(error, _FIRST_STATEMENT_ATTR, False))


def sqlstate(error: sa_exc.DBAPIError) -> str | None:
    original = error.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return str(code) if code else None


class Sessions(Protocol):
    """The session factories of a database (the primary's, or a read replica's)."""

    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    snapshot_sessionmaker: async_sessionmaker[AsyncSession]


class Database:
    """The engine, session factories and LISTEN connection of one process (an app, a worker).

    ``read_sessionmaker`` sessions run in autocommit: no BEGIN/COMMIT round trips for reads, and
    a prepared statement takes a pooled connection of its own (:class:`expsvc.driver.ReadSession`).
    ``snapshot_sessionmaker`` sessions read in one ``REPEATABLE READ READ ONLY`` transaction: every
    statement sees the snapshot of the first (exports, :class:`expsvc.routing.SnapshotRoute`).
    ``listener`` is the process's one LISTEN connection (:mod:`expsvc.listen`), opened on first use.
    ``domain_metrics`` (after :meth:`observe`) counts what ``sessionmaker`` sessions commit.
    ``replica`` (``EXPSVC_DATABASE_REPLICA_URL``) is where GET routes may read instead
    (:mod:`expsvc.replica`); None: every read is the primary's.
    """

    def __init__(self, engine: AsyncEngine, replica: Replica | None = None) -> None:
        self.engine = engine
        self.replica = replica
        self.domain_metrics: DomainMetrics | None = None
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.read_sessionmaker = read_sessions(engine)
        self.snapshot_sessionmaker = async_sessionmaker(
            engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True),
            expire_on_commit=False,
            autoflush=False,
        )
        self.listener = Listener(plain_database_url(engine.url))

    def observe(self, registry: CollectorRegistry) -> None:
        """Count committed changes (:mod:`expsvc.observability.domain`) and the pool's state
        in ``registry``."""
        self.domain_metrics = DomainMetrics(registry)
        registry.register(PoolCollector(self.engine))
        if self.replica is not None:
            self.replica.observe(registry)
        self.sessionmaker.configure(info={METRICS_INFO_KEY: self.domain_metrics})

    async def dispose(self) -> None:
        await self.listener.close()
        if self.replica is not None:
            await self.replica.dispose()
        await self.engine.dispose()
