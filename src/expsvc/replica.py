"""Read routing to a streaming replica (``EXPSVC_DATABASE_REPLICA_URL``, docs/adr/0029).

GET and HEAD requests of the transactional routes (entity gets, lists, exports) read from the
replica while its measured replay lag is within ``EXPSVC_DATABASE_REPLICA_MAX_LAG_MS``; else,
and whenever the replica is down or fails a read, from the primary.

Lag is measured off the request path, at most once per ``EXPSVC_DATABASE_REPLICA_CHECK_INTERVAL_MS``
and only while reads arrive: the primary's WAL position is sampled, then the replica's replay
position; the replica is as fresh as the newest primary sample it has replayed past, so the lag
is the time since that sample. Unlike ``now() - pg_last_xact_replay_timestamp()`` this does not
grow on an idle primary, and it does grow when the replica stops receiving WAL.

Read-your-writes: a successful write answers ``X-Expsvc-LSN`` (the primary's WAL position after
its commit, so at or past the commit record). A read that sends it back reads the replica only
once the replica has replayed that far, waiting up to ``EXPSVC_DATABASE_REPLICA_WAIT_MS``; then
the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from enum import StrEnum
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from expsvc.db import create_engine, sqlstate
from expsvc.driver import read_sessions
from expsvc.observability.tracing import background
from expsvc.settings import Settings

LSN_HEADER = "X-Expsvc-LSN"
_PRIMARY_LSN = "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint"
_REPLICA_STATE = "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
_REPLAYED = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
# Errors of a replica read that the primary would answer the same way: not worth a second try.
_CLIENT_SQLSTATE_CLASSES = ("22", "23", "42", "57014")
_SAMPLES = 256  # primary positions remembered (at the default interval, about two minutes)
_LSN_POLL_SECONDS = 0.005

_log = structlog.get_logger("expsvc.replica")


def format_lsn(value: int) -> str:
    """PostgreSQL's text form of a WAL position (``16/B374D848``)."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int | None:
    high, sep, low = text.strip().partition("/")
    if not sep or not (0 < len(high) <= 8 and 0 < len(low) <= 8):
        return None
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


class Reason(StrEnum):
    """Why a read went where it went (the ``reason`` label of the routing metric)."""

    within_bound = "within_bound"  # replica, its lag within the bound
    replayed = "replayed"  # replica, it had replayed the caller's LSN (maybe after a wait)
    lagging = "lagging"  # primary: lag past the bound, or not known yet
    unavailable = "unavailable"  # primary: the replica is down or not a standby
    lsn_not_replayed = "lsn_not_replayed"  # primary: the caller's LSN not replayed in time
    replica_failed = "replica_failed"  # primary: the read failed on the replica, run again


class ReplicaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reads = Counter(
            "expsvc_db_routed_reads",
            "GET/HEAD reads by the database that served them (replica, primary) and why.",
            ["target", "reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "expsvc_db_replica_lag_seconds",
            "Replay lag of the read replica at its last check (+Inf: down or unknown).",
            registry=registry,
        )
        self.lsn_wait = Histogram(
            "expsvc_db_replica_lsn_wait_seconds",
            f"Time reads carrying {LSN_HEADER} waited for the replica to replay it.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        for target, reason in (("replica", Reason.within_bound), ("replica", Reason.replayed)):
            self.reads.labels(target, reason)
        for reason in Reason:
            if reason not in (Reason.within_bound, Reason.replayed):
                self.reads.labels("primary", reason)


class Replica:
    """The replica's engine and session factories, and where each read should go."""

    def __init__(self, settings: Settings, engine: AsyncEngine, primary: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.read_sessionmaker = read_sessions(engine)
        self.snapshot_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True),
            expire_on_commit=False,
            autoflush=False,
        )
        self._replica = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._primary = primary.execution_options(isolation_level="AUTOCOMMIT")
        self.max_lag = settings.database_replica_max_lag_ms / 1000
        self.wait = settings.database_replica_wait_ms / 1000
        self.interval = settings.database_replica_check_interval_ms / 1000
        self.metrics: ReplicaMetrics | None = None
        # What the last check found: the lag (None: down, not a standby, or not known) and
        # the replayed position, at checked_at (monotonic seconds).
        self.lag: float | None = None
        self.replayed = 0
        self.checked_at = -1e9
        self._samples: deque[tuple[float, int]] = deque(maxlen=_SAMPLES)
        self._check: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, primary: AsyncEngine) -> Replica | None:
        """The replica of ``EXPSVC_DATABASE_REPLICA_URL``, or None when it is unset."""
        url = settings.database_replica_url
        return None if url is None else cls(settings, create_engine(settings, url), primary)

    def observe(self, registry: CollectorRegistry) -> None:
        self.metrics = ReplicaMetrics(registry)

    # --- where a read goes --------------------------------------------------------------------

    async def choose(self, lsn_header: str | None) -> bool:
        """True: read from the replica; False: from the primary (and count why)."""
        now = time.monotonic()
        if now - self.checked_at >= self.interval:
            self._check_soon()
        if now - self.checked_at > 2 * self.interval:
            # No check has answered lately (no reads for a while, or the replica hangs): the
            # lag is not known, and the staleness bound is max_lag + 2 intervals.
            return self._count(False, Reason.unavailable if self.lag is None else Reason.lagging)
        if self.lag is None:
            return self._count(False, Reason.unavailable)
        if lsn_header is None:
            within = self.lag <= self.max_lag
            return self._count(within, Reason.within_bound if within else Reason.lagging)
        wanted = parse_lsn(lsn_header)
        if wanted is None:  # not one of ours: the primary has everything
            return self._count(False, Reason.lsn_not_replayed)
        if self.replayed >= wanted:
            return self._count(True, Reason.replayed)
        replayed = await self._wait_for(wanted)
        return self._count(replayed, Reason.replayed if replayed else Reason.lsn_not_replayed)

    def _count(self, replica: bool, reason: Reason) -> bool:
        if self.metrics is not None:
            self.metrics.reads.labels("replica" if replica else "primary", reason).inc()
        return replica

    async def _wait_for(self, wanted: int) -> bool:
        started = time.monotonic()
        deadline = started + self.wait
        try:
            async with asyncio.timeout(self.wait + 0.05), self._replica.connect() as connection:
                while True:
                    replayed = (await connection.exec_driver_sql(_REPLAYED)).scalar()
                    if replayed is not None and replayed >= wanted:
                        self.replayed = max(self.replayed, int(replayed))
                        return True
                    if time.monotonic() + _LSN_POLL_SECONDS > deadline:
                        return False
                    await asyncio.sleep(_LSN_POLL_SECONDS)
        except (sa_exc.SQLAlchemyError, OSError, TimeoutError):
            return False
        finally:
            if self.metrics is not None:
                self.metrics.lsn_wait.observe(time.monotonic() - started)

    async def primary_position(self) -> str | None:
        """The primary's WAL position now (after a write's commit: at or past its record)."""
        try:
            async with self._primary.connect() as connection:
                position = (await connection.exec_driver_sql(_PRIMARY_LSN)).scalar()
        except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
            _log.warning("no WAL position for the write's response", error=repr(error))
            return None
        return None if position is None else format_lsn(int(position))

    def worth_the_primary(self, error: BaseException) -> bool:
        """A read that failed on the replica with ``error`` runs again on the primary (and
        a replica that could not be reached is not used until a check finds it back)."""
        if isinstance(error, sa_exc.DBAPIError):
            code = sqlstate(error) or ""
            if code.startswith(_CLIENT_SQLSTATE_CLASSES):
                return False
            if error.connection_invalidated or not code:
                self.lag = None
        elif isinstance(error, OSError | TimeoutError | sa_exc.TimeoutError):
            self.lag = None
        else:
            return False
        self._count(False, Reason.replica_failed)
        _log.warning("read failed on the replica, served by the primary", error=repr(error))
        return True

    # --- the lag check ------------------------------------------------------------------------

    def _check_soon(self) -> None:
        if self._check is None or self._check.done():
            with background():  # a read asked for it; the check is no part of that read
                self._check = asyncio.create_task(self.check())

    async def check(self) -> None:
        """Measure the replica's lag once (see the module's docstring)."""
        try:
            async with asyncio.timeout(max(self.interval, 1.0) * 2):
                sampled = time.monotonic()
                async with self._primary.connect() as connection:
                    position = (await connection.exec_driver_sql(_PRIMARY_LSN)).scalar()
                if position is not None:
                    self._samples.append((sampled, int(position)))
                async with self._replica.connect() as connection:
                    row: Any = (await connection.exec_driver_sql(_REPLICA_STATE)).one()
        except (sa_exc.SQLAlchemyError, OSError, TimeoutError) as error:
            self._found(None, 0)
            _log.info("replica check failed: reads go to the primary", error=repr(error))
            return
        in_recovery, replayed = row[0], row[1]
        if not in_recovery or replayed is None:  # promoted, or not a standby at all
            self._found(None, 0)
            return
        self._found(self._lag_at(int(replayed), time.monotonic()), int(replayed))

    def _lag_at(self, replayed: int, now: float) -> float | None:
        for sampled, position in reversed(self._samples):
            if position <= replayed:
                return max(0.0, now - sampled)
        return None if not self._samples else now - self._samples[0][0] + self.max_lag + 1

    def _found(self, lag: float | None, replayed: int) -> None:
        self.lag, self.replayed, self.checked_at = lag, replayed, time.monotonic()
        if self.metrics is not None:
            self.metrics.lag.set(float("inf") if lag is None else lag)

    async def dispose(self) -> None:
        if self._check is not None:
            self._check.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._check
        await self.engine.dispose()
