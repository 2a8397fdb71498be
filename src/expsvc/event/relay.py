"""The outbox relay: sequences committed events and publishes them to every sink.

The relays of all processes share the sinks: each sink has a leader, the relay that holds the
sink's session advisory lock (:func:`sink_lock_id`) on its process's LISTEN connection
(:mod:`expsvc.listen`), and only it publishes to that sink until the connection is lost (the
process died or lost the database). Every relay also holds the relays' lock in share mode, so
each counts the live relays and leads at most its fair share of the sinks (``ceil(sinks /
relays)``): with two processes and two sinks each leads one; one that leads more than its share
hands a sink over (after its batch in flight), and when a process dies the others take its sinks
at their next look (every couple of seconds). Leadership only saves work (one process woken per
sink and commit): the two steps are coordinated through PostgreSQL alone and stay safe with any
number of relays at once.

1. **Sequencing** (one process at a time, ``pg_try_advisory_xact_lock``): committed events get a
   gapless ``seq`` in the order they became visible. Readers follow ``seq``, so an event that
   commits late is never stepped over, and per-entity order (entity row locks order the writes)
   is kept. Every relay that leads a sink polls; the lock keeps sequencing serial.
2. **Publishing**, per sink: the relay that locks the sink's cursor row (``FOR UPDATE SKIP
   LOCKED``) reads the next batch after it, publishes, and advances the cursor in the same
   transaction. A crash between publish and commit republishes the batch: at least once.

A leading relay polls for committed events (every 10 ms while it finds some, backing off to
100 ms while it finds none): commits do not NOTIFY, as a notifying commit holds PostgreSQL's one
notification lock through its WAL flush and would serialise every write (migration 0008). The
sequencer's ``expsvc_events`` notification wakes publishers (in every process) and SSE streams;
a slow fallback timer covers a lost one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import text

from expsvc import jitter
from expsvc.db import Database
from expsvc.event.envelope import cloudevent
from expsvc.event.metrics import RelayMetrics
from expsvc.event.repository import OutboxRepository
from expsvc.event.sinks import AnySink, DatabaseSink
from expsvc.event.versions import EVENT_VERSIONS, EventVersions
from expsvc.observability.tracing import linked_span, record_span

_log = structlog.get_logger("expsvc.relay")

SEQUENCER_LOCK_ID = 0x6578_7073_7631  # "expsv1"
PURGE_LOCK_ID = 0x6578_7073_7632  # "expsv2"
RELAYS_LOCK_ID = 0x6578_7073_7633  # "expsv3": every relay's session holds it in share mode
SINK_LOCK_CLASS = 0x6578_7334  # "exs4": a sink's leader holds (class << 32 | crc32(sink name))
_COALESCE_SECONDS = 0.01
# A sink's leader looks for committed, unsequenced events this often: at the shorter interval while
# it finds some, doubling to the longer one while it finds none. Commits do not NOTIFY: a
# notifying commit holds PostgreSQL's notification-queue lock until its WAL flush, so every
# write would wait for the one before it (migration 0008).
_POLL_SECONDS = (0.01, 0.1)
EVENTS_CHANNEL = "expsvc_events"


def sink_lock_id(sink: str) -> int:
    """The session advisory lock of ``sink``'s leader (pg_locks: classid = SINK_LOCK_CLASS)."""
    return SINK_LOCK_CLASS << 32 | zlib.crc32(sink.encode())


@dataclass
class _Led:
    """A sink this relay leads: its publisher task, told to stop after its batch by ``stop``."""

    generation: int
    task: asyncio.Task[None]
    stop: asyncio.Event


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
        poll_interval: tuple[float, float] = _POLL_SECONDS,
        standby_interval: float = 2.0,
        retention_seconds: float | None = None,
        versions: EventVersions = EVENT_VERSIONS,
    ) -> None:
        self.database = database
        self.versions = versions
        self.sinks = list(sinks)
        # Sinks whose cursor row this relay has seen (rows are never deleted).
        self._cursors_seen: set[str] = set()
        self.metrics = metrics
        self.source = source
        self.batch_size = batch_size
        self.fallback_interval = fallback_interval
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.retention_seconds = retention_seconds
        self._sink_wakes = {sink.name: asyncio.Event() for sink in self.sinks}

    async def run(self) -> None:
        """Run until cancelled: join the relays (the shared lock), then lead a fair share of
        the sinks until the LISTEN connection that holds the locks is lost, and join again."""
        listener = self.database.listener
        try:
            while True:
                generation = await listener.try_lock(RELAYS_LOCK_ID, shared=True)
                if generation is None:
                    await asyncio.sleep(self.standby_interval * jitter.between(0.5, 1.0))
                    continue
                try:
                    await self._lead(listener.lost(generation))
                finally:
                    self.metrics.leading.set(0)
                    await listener.unlock(RELAYS_LOCK_ID, generation, shared=True)
                _log.warning("relay lost its sinks with its LISTEN connection; joining again")
        finally:
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    await sink.close()

    async def _lead(self, lost: asyncio.Event) -> None:
        """Lead a fair share of the sinks (and sequence while leading any) until ``lost`` is
        set, looking again every ``standby_interval`` (or a task fails: the runner restarts)."""
        unsubscribe = self.database.listener.subscribe(EVENTS_CHANNEL, self._wake_sinks)
        led: dict[str, _Led] = {}
        sequencer: asyncio.Task[None] | None = None
        try:
            while not lost.is_set():
                for name, leadership in led.items():
                    if leadership.task.done():
                        # A failed publisher's error to the runner. One that ended cancelled
                        # (a sink's library raised CancelledError: this relay cancels only what
                        # it took out of ``led``) is an error too: a CancelledError from here
                        # would end the relay's loop unseen instead of restarting it.
                        if not leadership.task.cancelled():
                            leadership.task.result()
                        raise RuntimeError(f"the publisher of {name} stopped")
                try:
                    await self._balance(led)
                except Exception as error:
                    _log.warning("relay balancing failed", error=repr(error))
                self.metrics.leading.set(len(led))
                # Once leading, a relay keeps at least one sink (its share is never 0) until
                # ``lost``: the sequencer runs until then.
                if led and sequencer is None:
                    sequencer = asyncio.create_task(
                        self._sequence_forever(), name="outbox-sequencer"
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.standby_interval * jitter.between(0.5, 1.0)):
                        await lost.wait()
        finally:
            unsubscribe()
            tasks = [leadership.task for leadership in led.values()]
            tasks += [sequencer] if sequencer is not None else []
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for name, leadership in led.items():
                await self.database.listener.unlock(sink_lock_id(name), leadership.generation)

    async def _balance(self, led: dict[str, _Led]) -> None:
        """Take free sinks up to this relay's fair share, or hand one over past it."""
        async with self.database.read_sessionmaker() as session:
            relays = await OutboxRepository(session).lock_holders(RELAYS_LOCK_ID)
        share = math.ceil(len(self.sinks) / max(1, relays))
        if len(led) > share:
            name = jitter.choice(list(led))
            leadership = led.pop(name)
            leadership.stop.set()  # its batch in flight commits: no duplicate from a handover
            self._sink_wakes[name].set()
            _, pending = await asyncio.wait({leadership.task}, timeout=self.fallback_interval)
            for task in pending:  # stuck on a failing sink: at least once allows the cancel
                task.cancel()
            await asyncio.gather(leadership.task, return_exceptions=True)
            await self.database.listener.unlock(sink_lock_id(name), leadership.generation)
            _log.info("relay handed a sink over", sink=name, relays=relays, share=share)
            return
        for sink in jitter.shuffled(self.sinks):
            if len(led) >= share:
                return
            if sink.name in led:
                continue
            generation = await self.database.listener.try_lock(sink_lock_id(sink.name))
            if generation is None:
                continue
            stop = asyncio.Event()
            task = asyncio.create_task(
                self._publish_forever(sink, stop), name=f"outbox-{sink.name}"
            )
            led[sink.name] = _Led(generation, task, stop)
            _log.info("relay leading a sink", sink=sink.name, relays=relays, share=share)

    # --- sequencing -------------------------------------------------------------------------

    async def sequence_once(self) -> int:
        """Sequence one batch; 0 when nothing is pending or another relay is sequencing.

        One statement in autocommit (lock, number, notify): one round trip per wake-up, and
        one for a relay that finds another sequencing.
        """
        started = time.time_ns()
        async with self.database.read_sessionmaker() as session:
            count = await OutboxRepository(session).sequence_pending(
                SEQUENCER_LOCK_ID, self.batch_size, EVENTS_CHANNEL
            )
        if count:
            record_span("outbox sequence", started, count=count)
            self.metrics.sequenced.inc(count)
            self._wake_sinks()
        return count or 0

    async def _sequence_forever(self) -> None:
        shortest, longest = self.poll_interval
        interval = shortest
        while True:
            found = 0
            try:
                while (count := await self.sequence_once()) == self.batch_size:
                    found += count
                found += count
            except Exception:
                _log.exception("sequencing failed")
            interval = shortest if found else min(longest, interval * 2)
            await asyncio.sleep(interval)

    # --- publishing -------------------------------------------------------------------------

    async def publish_once(self, sink: AnySink) -> int:
        """Publish the sink's next batch; how many events (0: caught up or sink busy)."""
        async with self.database.sessionmaker() as session, session.begin():
            outbox = OutboxRepository(session)
            seen = sink.name in self._cursors_seen
            rows = await outbox.claim_batch(sink.name, self.batch_size, seen)
            if rows is None:
                return 0  # another relay holds this sink
            self._cursors_seen.add(sink.name)
            if not rows:
                return 0
            # Every data version still published, each its own envelope (docs/adr/0021).
            events = self.versions.render_all(
                cloudevent(row, self.source, self.versions) for row in rows
            )
            traces = (row.traceparent for row in rows)
            with linked_span("outbox publish", traces, sink=sink.name, count=len(rows)):
                if isinstance(sink, DatabaseSink):
                    await sink.publish_in(session, events)
                else:
                    await sink.publish(events)
            await outbox.advance_cursor(sink.name, rows[-1].seq, len(rows))
        self.metrics.published.labels(sink.name).inc(len(rows))
        return len(rows)

    async def _publish_forever(self, sink: AnySink, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set (checked between batches) or cancelled."""
        failures = 0
        wake = self._sink_wakes[sink.name]
        while not stop.is_set():
            if isinstance(sink, DatabaseSink) and (quiet := sink.quiet_for()) > 0:
                await asyncio.sleep(quiet)  # then catch up on what gathered meanwhile
            try:
                while await self.publish_once(sink) == self.batch_size and not stop.is_set():
                    pass
                failures = 0
            except Exception as error:
                failures += 1
                self.metrics.failures.labels(sink.name).inc()
                _log.warning("publish failed", sink=sink.name, error=repr(error))
                await self._record_error(sink.name, repr(error))
                await asyncio.sleep(jitter.backoff(failures, base=0.2))
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
