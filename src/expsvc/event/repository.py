from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Row,
    Select,
    Text,
    case,
    func,
    literal,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import access_parameters, experiment_of_entity, may
from expsvc.auth.principal import Principal
from expsvc.event.schemas import FeedFilter
from expsvc.models import event_sink_cursors, outbox_events

# nextval() in a CTE over an ordered scan keeps the id order within the batch.
_SEQUENCE_PENDING = text(
    """
    WITH sequencer AS (
        SELECT pg_try_advisory_xact_lock(:lock_id) AS locked
    ), pending AS (
        SELECT id FROM outbox_events
        WHERE seq IS NULL AND (SELECT locked FROM sequencer)
        ORDER BY id LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), numbered AS (
        SELECT id, nextval('outbox_event_seq') AS seq FROM pending
    ), sequenced AS (
        UPDATE outbox_events SET seq = numbered.seq, sequenced_at = clock_timestamp()
        FROM numbered WHERE outbox_events.id = numbered.id
        RETURNING 1
    ), counted AS (
        SELECT count(*) AS sequenced FROM sequenced
    )
    SELECT (SELECT locked FROM sequencer) AS locked, counted.sequenced,
           CASE WHEN counted.sequenced > 0 THEN pg_notify(:channel, '') END AS notified
    FROM counted
    """
)


# A sink's cursor locked (skipped when another relay holds it) and the batch after it, in one
# statement: no rows when the cursor is held (or missing); one row of NULL event columns when
# the sink is caught up.
_CLAIM_BATCH = text(
    f"""
    WITH cursor AS (
        SELECT last_seq FROM event_sink_cursors WHERE sink = :sink FOR UPDATE SKIP LOCKED
    )
    SELECT cursor.last_seq AS cursor_seq, {", ".join(f"batch.{c.name}" for c in outbox_events.c)}
    FROM cursor LEFT JOIN LATERAL (
        SELECT * FROM outbox_events WHERE seq > cursor.last_seq ORDER BY seq LIMIT :limit
    ) AS batch ON true
    ORDER BY batch.seq
    """  # noqa: S608 - column names from the table definition
)


@dataclass(frozen=True)
class FeedWindow:
    events: list[Row[Any]]
    scanned_to: int | None  # None: the log is empty
    oldest: int | None


def _candidates(after_seq: int, scan: int, types: Sequence[str]) -> Select[Any]:
    """The next ``scan`` sequenced events after ``after_seq`` of ``types`` (all when empty)."""
    seq = outbox_events.c.seq
    if not types:
        return select(seq).where(seq > after_seq).order_by(seq).limit(scan)
    # Per type an ordered range of ix_outbox_events_type_seq, at most ``scan`` long each: a
    # type filter over IN would read every matching event after the cursor to sort them.
    wanted = (
        func.unnest(literal(sorted(set(types)), ARRAY(Text)))
        .table_valued("type")
        .render_derived("wanted")
    )
    of_type = (
        select(seq)
        .where(outbox_events.c.type == wanted.c.type, seq > after_seq)
        .order_by(seq)
        .limit(scan)
        .lateral("of_type")
    )
    return (
        select(of_type.c.seq)
        .select_from(wanted.join(of_type, true()))
        .order_by(of_type.c.seq)
        .limit(scan)
    )


_LOCK_HOLDERS = text(
    """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND (classid::bigint << 32 | objid::bigint) = :lock_id
    """
)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sequence_pending(self, lock_id: int, limit: int, channel: str) -> int | None:
        """Give committed, unsequenced events a ``seq`` in id order and notify ``channel``, if
        this transaction gets the sequencer's lock; how many were sequenced (None: another
        relay is sequencing). One statement, so in autocommit it is its own transaction.

        The lock (``pg_try_advisory_xact_lock(lock_id)``) makes sequencing transactions serial,
        so ``seq`` never has a hole a reader could step over. Rows another sequencer numbered
        after this statement's snapshot are re-checked under ``FOR UPDATE`` (``seq IS NULL`` no
        longer holds) and skipped.
        """
        row = (
            await self.session.execute(
                _SEQUENCE_PENDING, {"lock_id": lock_id, "limit": limit, "channel": channel}
            )
        ).one()
        return int(row.sequenced) if row.locked else None

    async def lock_holders(self, lock_id: int) -> int:
        """How many sessions hold the advisory lock ``lock_id`` (bigint form) in this database:
        the relays, for the one each of them holds in share mode."""
        return int(await self.session.scalar(_LOCK_HOLDERS, {"lock_id": lock_id}) or 0)

    async def read_window(
        self,
        after_seq: int,
        limit: int,
        scan: int,
        where: FeedFilter,
        principal: Principal,
    ) -> FeedWindow:
        """At most ``limit`` events after ``after_seq`` (oldest first) that match ``where`` and
        whose entity ``principal`` may read, among the next ``scan`` events of the wanted types
        (of any type without a type filter), in one statement.

        The candidates are an index range: the seq index, or with types the next ``scan`` of
        each type on ``ix_outbox_events_type_seq``, merged; so the work is bounded by ``scan``
        however far the matches are. ``scanned_to`` is how far the candidates reach: every event
        up to it of the wanted types was examined (the log's head when fewer than ``scan``
        remain).
        """
        candidates = _candidates(after_seq, scan, where.types).cte("candidates")
        head = select(func.max(outbox_events.c.seq)).scalar_subquery()
        bound = (
            select(
                case((func.count() == scan, func.max(candidates.c.seq)), else_=head).label(
                    "scanned_to"
                ),
                select(func.min(outbox_events.c.seq)).scalar_subquery().label("oldest"),
            )
            .select_from(candidates)
            .cte("bound")
        )
        event = outbox_events
        experiment = experiment_of_entity(event.c.entity_type, event.c.entity_id)
        page = (
            select(event).join(candidates, candidates.c.seq == event.c.seq).where(may(experiment))
        )
        if where.experiment_ids:
            page = page.where(experiment.in_(list(where.experiment_ids)))
        page_of = page.order_by(event.c.seq).limit(limit).lateral("page")
        query = (
            select(bound.c.scanned_to, bound.c.oldest, page_of)
            .select_from(bound.outerjoin(page_of, true()))
            .order_by(page_of.c.seq)
        )
        rows = (await self.session.execute(query, access_parameters(principal))).all()
        return FeedWindow(
            events=[row for row in rows if row.seq is not None],
            scanned_to=rows[0].scanned_to,
            oldest=rows[0].oldest,
        )

    async def claim_batch(
        self, sink: str, limit: int, exists: bool = False
    ) -> Sequence[Row[Any]] | None:
        """Lock the sink's cursor for this transaction and read the next ``limit`` events
        after it; None if another relay holds the cursor.

        ``exists``: the caller has seen the cursor row before (cursors are never deleted), so a
        miss can only mean another relay holds it: one round trip, winner or loser.
        """
        parameters = {"sink": sink, "limit": limit}
        rows = (await self.session.execute(_CLAIM_BATCH, parameters)).all()
        if not rows and not exists:
            # Missing (a new sink: create it) or locked by another relay (then this finds
            # the row and SKIP LOCKED still answers nothing).
            await self.session.execute(
                pg_insert(event_sink_cursors).values(sink=sink).on_conflict_do_nothing()
            )
            rows = (await self.session.execute(_CLAIM_BATCH, parameters)).all()
        if not rows:
            return None
        return [] if rows[0].seq is None else rows

    async def advance_cursor(self, sink: str, last_seq: int, published: int) -> None:
        await self.session.execute(
            update(event_sink_cursors)
            .where(event_sink_cursors.c.sink == sink)
            .values(
                last_seq=last_seq,
                published=event_sink_cursors.c.published + published,
                last_error=None,
                updated_at=func.now(),
            )
        )

    async def record_error(self, sink: str, error: str) -> None:
        await self.session.execute(
            update(event_sink_cursors)
            .where(event_sink_cursors.c.sink == sink)
            .values(last_error=error[:2000], updated_at=func.now())
        )

    async def backlog(self, sinks: Sequence[str]) -> dict[str, tuple[int, float | None]]:
        """Per sink: events not yet published, and the age in seconds of the oldest one.

        Index range scans only (the seq index past the cursor, the unsequenced partial index),
        so the cost follows the backlog, not the retained log.
        """
        result: dict[str, tuple[int, float | None]] = {}
        for sink in sinks:
            row = (
                await self.session.execute(
                    text(
                        "WITH cursor AS (SELECT coalesce((SELECT last_seq FROM event_sink_cursors"
                        " WHERE sink = :sink), 0) AS seq) "
                        "SELECT (SELECT count(*) FROM outbox_events, cursor"
                        "        WHERE outbox_events.seq > cursor.seq)"
                        "     + (SELECT count(*) FROM outbox_events WHERE seq IS NULL),"
                        "  extract(epoch FROM now() - least("
                        "    (SELECT created_at FROM outbox_events, cursor"
                        "     WHERE outbox_events.seq > cursor.seq ORDER BY outbox_events.seq"
                        "     LIMIT 1),"
                        "    (SELECT created_at FROM outbox_events WHERE seq IS NULL"
                        "     ORDER BY id LIMIT 1)))"
                    ),
                    {"sink": sink},
                )
            ).one()
            age = None if row[1] is None else max(0.0, float(row[1]))
            result[sink] = (int(row[0]), age)
        return result

    async def purge_delivered(
        self, sinks: Sequence[str], older_than_seconds: float, limit: int | None = None
    ) -> int:
        """Delete events every sink has published and that are past retention (at most
        ``limit``, oldest first). A sink that never published counts as having published
        nothing; with no sinks, every sequenced event past retention goes."""
        if sinks:
            rows = await self.session.execute(
                select(event_sink_cursors.c.sink, event_sink_cursors.c.last_seq).where(
                    event_sink_cursors.c.sink.in_(list(sinks))
                )
            )
            cursors = {str(sink): int(last_seq) for sink, last_seq in rows}
            floor: Any = min(cursors.get(sink, 0) for sink in sinks)
        else:
            floor = select(func.max(outbox_events.c.seq)).scalar_subquery()
        doomed = (
            select(outbox_events.c.id)
            .where(
                outbox_events.c.seq <= floor,
                outbox_events.c.created_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
            .order_by(outbox_events.c.seq)
        )
        if limit is not None:
            doomed = doomed.limit(limit)
        result = await self.session.execute(
            outbox_events.delete().where(outbox_events.c.id.in_(doomed.scalar_subquery()))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
