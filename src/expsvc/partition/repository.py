"""The partitions of a range-partitioned table, as the catalogue tells them (the only SQL of
:mod:`expsvc.partition`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Bounds read back as timestamptz from the partition's bound expression; MINVALUE reads NULL.
_PARTITIONS = text(
    """
    SELECT child.relname AS name,
           (regexp_match(pg_get_expr(child.relpartbound, child.oid),
                         'FROM \\(''([^'']+)''\\)'))[1]::timestamptz AS lower,
           (regexp_match(pg_get_expr(child.relpartbound, child.oid),
                         'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS upper
    FROM pg_inherits
    JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid
    WHERE pg_inherits.inhparent = to_regclass(:table)
    ORDER BY upper
    """
)


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None: from MINVALUE (the table that was there before partitioning)
    upper: datetime


class PartitionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def is_partitioned(self, table: str) -> bool:
        partitioned = await self.session.scalar(
            text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:table)"),
            {"table": table},
        )
        return bool(partitioned)

    async def partitions(self, table: str) -> list[Partition]:
        rows = await self.session.execute(_PARTITIONS, {"table": table})
        return [Partition(row.name, row.lower, row.upper) for row in rows]

    async def limit_lock_wait(self, milliseconds: int) -> None:
        """Give up (and retry next pass) rather than queue writers behind a long transaction."""
        await self.session.execute(text(f"SET LOCAL lock_timeout = {int(milliseconds)}"))

    async def create(self, table: str, lower: datetime) -> str:
        """A new, empty month partition from ``lower`` (a UTC month start), attached; its name.

        Through ``expsvc_create_partition`` (migration 0020): the runtime role may not create
        tables, the function runs as their owner and accepts only our tables and month bounds."""
        name = await self.session.scalar(
            text("SELECT expsvc_create_partition(CAST(:table AS regclass), :lower)"),
            {"table": table, "lower": lower},
        )
        return str(name)

    async def drop(self, name: str) -> None:
        """Drop a whole month partition that can no longer receive rows (through
        ``expsvc_drop_partition``, which refuses anything else)."""
        await self.session.execute(
            text("SELECT expsvc_drop_partition(CAST(:name AS regclass))"), {"name": name}
        )

    async def published_entirely(self, name: str, sinks: Sequence[str]) -> bool:
        """Every event of the outbox partition is sequenced and every sink published it (with
        no sinks: sequenced). Two index lookups: the unsequenced partial index, max of ``seq``."""
        floor = "(SELECT max(seq) FROM outbox_events)"
        params: dict[str, object] = {}
        if sinks:
            floor = (
                "(SELECT min(coalesce(c.last_seq, 0)) FROM unnest(CAST(:sinks AS text[]))"
                " AS s(sink) LEFT JOIN event_sink_cursors AS c USING (sink))"
            )
            params["sinks"] = list(sinks)
        query = text(
            f'SELECT NOT EXISTS (SELECT FROM "{name}" WHERE seq IS NULL)'  # noqa: S608 (names from code or the catalogue)
            f' AND coalesce((SELECT max(seq) FROM "{name}"), 0) <= coalesce({floor}, 0)'
        )
        return bool(await self.session.scalar(query, params))

    async def lock_parent(self, table: str) -> None:
        """ACCESS EXCLUSIVE on the partitioned ``table`` itself (not its partitions), until the
        transaction ends: the lock dropping one of its partitions takes first (every statement
        reaches the partitions through it), so nothing writes a partition meanwhile."""
        # ``table`` comes from code (a Retention), never from input.
        await self.session.execute(text(f'LOCK TABLE ONLY "{table}" IN ACCESS EXCLUSIVE MODE'))

    async def holds_in_flight(self, name: str) -> bool:
        """A webhook delivery of the partition is still to be sent (its partial due index)."""
        query = text(
            f'SELECT EXISTS (SELECT FROM "{name}"'  # noqa: S608 (a name from the catalogue)
            " WHERE status IN ('pending', 'delivering'))"
        )
        return bool(await self.session.scalar(query))
