"""The outbox relay: sequences committed events and publishes them to every sink.

Two steps, both coordinated only through PostgreSQL so any number of relays may run:

1. **Sequencing** (one process at a time, ``pg_try_advisory_xact_lock``): committed events get a
   gapless ``seq`` in the order they became visible. Readers follow ``seq``, so an event that
   commits late is never stepped over, and per-entity order (entity row locks order the writes)
   is kept.
2. **Publishing**, per sink: the relay that locks the sink's cursor row (``FOR UPDATE SKIP
   LOCKED``) reads the next batch after it, publishes, and advances the cursor in the same
   transaction. A crash between publish and commit republishes the batch: at least once.

Woken by LISTEN/NOTIFY (``expsvc_outbox`` on every commit with events, ``expsvc_events`` after
sequencing); a slow fallback timer covers a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from sqlalchemy import text

from expsvc.db import Database, plain_database_url
from expsvc.event.envelope import cloudevent
from expsvc.event.metrics import RelayMetrics
from expsvc.event.repository import OutboxRepository
from expsvc.event.sinks import AnySink, DatabaseSink

_log = structlog.get_logger("expsvc.relay")

SEQUENCER_LOCK_ID = 0x6578_7073_7631  # "expsv1"
PURGE_LOCK_ID = 0x6578_7073_7632  # "expsv2"
OUTBOX_CHANNEL = "expsvc_outbox"
_COALESCE_SECONDS = 0.01
EVENTS_CHANNEL = "expsvc_events"


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        sinks: Sequence[AnySink],
        metrics: RelayMetrics,
        *,
        source: str,
        batch_size: int = 500,
        fallback_interval: float = 5.0,
        retention_seconds: float | None = None,
        purge_interval: float = 0.0,
        metrics_interval: float = 0.0,
    ) -> None:
        self.database = database
        self.sinks = list(sinks)
        # Sinks whose cursor row this relay has seen (rows are never deleted).
        self._cursors_seen: set[str] = set()
        self.metrics = metrics
        self.source = source
        self.batch_size = batch_size
        self.fallback_interval = fallback_interval
        self.retention_seconds = retention_seconds
        self.purge_interval = purge_interval
        self.metrics_interval = metrics_interval
        self._wake = asyncio.Event()
        self._sink_wakes = {sink.name: asyncio.Event() for sink in self.sinks}

    async def run(self) -> None:
        """Run until cancelled."""
        tasks = [
            asyncio.create_task(self._listen_forever(), name="outbox-listener"),
            asyncio.create_task(self._sequence_forever(), name="outbox-sequencer"),
        ]
        tasks += [
            asyncio.create_task(self._publish_forever(sink), name=f"outbox-{sink.name}")
            for sink in self.sinks
        ]
        if self.metrics_interval > 0:
            tasks.append(
                asyncio.create_task(
                    _every(self.metrics_interval, self.refresh_backlog), name="outbox-metrics"
                )
            )
        if self.purge_interval > 0 and self.retention_seconds is not None:
            tasks.append(
                asyncio.create_task(
                    _every(self.purge_interval, self.purge_once), name="outbox-purge"
                )
            )
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    await sink.close()

    # --- sequencing -------------------------------------------------------------------------

    async def sequence_once(self) -> int:
        """Sequence one batch; 0 when nothing is pending or another relay is sequencing.

        One statement in autocommit (lock, number, notify): one round trip per wake-up, and
        one for a relay that finds another sequencing.
        """
        async with self.database.read_sessionmaker() as session:
            count = await OutboxRepository(session).sequence_pending(
                SEQUENCER_LOCK_ID, self.batch_size, EVENTS_CHANNEL
            )
        if count:
            self.metrics.sequenced.inc(count)
            self._wake_sinks()
        return count or 0

    async def _sequence_forever(self) -> None:
        while True:
            try:
                while await self.sequence_once() == self.batch_size:
                    pass
            except Exception:
                _log.exception("sequencing failed")
            await self._sleep_until_woken(self._wake)

    # --- publishing -------------------------------------------------------------------------

    async def publish_once(self, sink: AnySink) -> int:
        """Publish the sink's next batch; how many events (0: caught up or sink busy)."""
        async with self.database.sessionmaker() as session, session.begin():
            outbox = OutboxRepository(session)
            last_seq = await outbox.claim_cursor(sink.name, sink.name in self._cursors_seen)
            if last_seq is None:
                return 0  # another relay holds this sink
            self._cursors_seen.add(sink.name)
            rows = await outbox.read_after(last_seq, self.batch_size)
            if not rows:
                return 0
            events = [cloudevent(row, self.source) for row in rows]
            if isinstance(sink, DatabaseSink):
                await sink.publish_in(session, events)
            else:
                await sink.publish(events)
            await outbox.advance_cursor(sink.name, rows[-1].seq, len(rows))
        self.metrics.published.labels(sink.name).inc(len(rows))
        return len(rows)

    async def _publish_forever(self, sink: AnySink) -> None:
        failures = 0
        wake = self._sink_wakes[sink.name]
        while True:
            try:
                while await self.publish_once(sink) == self.batch_size:
                    pass
                failures = 0
            except Exception as error:
                failures += 1
                self.metrics.failures.labels(sink.name).inc()
                _log.warning("publish failed", sink=sink.name, error=repr(error))
                await self._record_error(sink.name, repr(error))
                await asyncio.sleep(min(30.0, 0.2 * 2**failures) * random.uniform(0.5, 1.0))
                continue
            await self._sleep_until_woken(wake)

    async def _record_error(self, sink: str, error: str) -> None:
        with contextlib.suppress(Exception):
            async with self.database.sessionmaker() as session, session.begin():
                await OutboxRepository(session).record_error(sink, error)

    # --- retention --------------------------------------------------------------------------

    async def purge_once(self, batch: int = 10_000) -> int | None:
        """Delete events past retention that every sink has published; None if another relay
        is purging. One short transaction per ``batch`` events."""
        assert self.retention_seconds is not None
        purged = 0
        while True:
            async with self.database.sessionmaker() as session, session.begin():
                locked = await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": PURGE_LOCK_ID}
                )
                if not locked:
                    return None if purged == 0 else purged
                deleted = await OutboxRepository(session).purge_delivered(
                    [sink.name for sink in self.sinks], self.retention_seconds, batch
                )
            purged += deleted
            self.metrics.purged.inc(deleted)
            if deleted < batch:
                return purged

    # --- metrics ----------------------------------------------------------------------------

    async def refresh_backlog(self) -> dict[str, tuple[int, float | None]]:
        async with self.database.sessionmaker() as session:
            backlog = await OutboxRepository(session).backlog([s.name for s in self.sinks])
        for sink, (count, age) in backlog.items():
            self.metrics.backlog.labels(sink).set(count)
            self.metrics.oldest_age.labels(sink).set(age or 0.0)
        return backlog

    # --- wake-ups ---------------------------------------------------------------------------

    def _wake_sinks(self) -> None:
        for event in self._sink_wakes.values():
            event.set()

    def _on_notification(self, _: Any, __: int, channel: str, ___: str) -> None:
        if channel == OUTBOX_CHANNEL:
            self._wake.set()
        else:
            self._wake_sinks()

    async def _sleep_until_woken(self, event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: see WebhookDeliverer._sleep
            async with asyncio.timeout(self.fallback_interval):
                await event.wait()
        if event.is_set():
            # Let the commits of the next few milliseconds join this batch: under a few hundred
            # writes a second, a batch per notification cost each write a relay transaction
            # (about a tenth of the service's CPU) for at most this much added latency.
            await asyncio.sleep(_COALESCE_SECONDS)
        event.clear()

    async def _listen_forever(self) -> None:
        """Keep a LISTEN connection; reconnect when the database drops it."""
        failures = 0
        while True:
            connection: asyncpg.Connection | None = None
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(plain_database_url(self.database.engine.url))
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(OUTBOX_CHANNEL, self._on_notification)
                await connection.add_listener(EVENTS_CHANNEL, self._on_notification)
                failures = 0
                self._wake.set()  # catch up on whatever committed while we were not listening
                self._wake_sinks()
                await lost.wait()
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                failures += 1
                _log.warning("relay cannot LISTEN; polling meanwhile", error=repr(error))
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(min(30.0, 0.5 * 2**failures))


async def _every(interval: float, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` now and every ``interval`` seconds (jittered); log its failures."""
    while True:
        try:
            await job()
        except Exception:
            _log.exception("periodic relay job failed", job=getattr(job, "__name__", repr(job)))
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))
