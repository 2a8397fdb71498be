"""Partition maintenance: one pass creates the months ahead and drops whole partitions past
retention, for every partitioned history table (docs/adr/0020-monthly-partitions.md).

The pass is the ``partition-maintenance`` worker job (a runner singleton) and
``expsvc db partitions``. Its clock is a parameter, so tests move it across months instead of
waiting. Per table, the creations are one transaction and the drops another, each with a short
``lock_timeout``: attaching an empty partition takes SHARE UPDATE EXCLUSIVE (writes go on),
dropping one takes a brief ACCESS EXCLUSIVE, and one that cannot get its lock is retried on the
next pass. (Attaching a webhook deliveries month also takes SHARE ROW EXCLUSIVE on
``webhook_endpoints``, for its foreign key: held on into the drops' ACCESS EXCLUSIVE on the
deliveries, it could deadlock with the delivery worker, which changes an endpoint after it has
locked a delivery.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from expsvc.db import Database
from expsvc.partition.repository import Partition, PartitionRepository
from expsvc.settings import Settings

_LOCK_TIMEOUT_MS = 2000


@dataclass(frozen=True)
class Retention:
    """How a table's old partitions go: ``keep`` past their upper bound (None: kept for ever);
    for the outbox, only once every sink named has published them."""

    table: str
    keep: timedelta | None
    sinks: Sequence[str] | None = None  # None: not an outbox
    in_flight: bool = False  # webhook deliveries: a partition with one not finished is kept
    # Webhook attempts: a partition goes only once no partition of this table (their
    # deliveries) starts before its end, so a kept delivery keeps its whole attempt log.
    follows: str | None = None


@dataclass
class TableReport:
    table: str
    partitioned: bool = True
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kept_unpublished: list[str] = field(default_factory=list)
    kept_in_flight: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for an operator (``expsvc db partitions``): what the pass did and what it
        kept past retention, and why."""
        if not self.partitioned:
            return f"{self.table}: not partitioned (nothing to do)"
        parts = [
            f"created {', '.join(self.created) or 'none'}",
            f"dropped {', '.join(self.dropped) or 'none'}",
        ]
        if self.kept_unpublished:
            parts.append(f"kept unpublished {', '.join(self.kept_unpublished)}")
        if self.kept_in_flight:
            parts.append(f"kept in flight {', '.join(self.kept_in_flight)}")
        return f"{self.table}: {'; '.join(parts)}"


def month_start(moment: datetime, months: int = 0) -> datetime:
    """The start (UTC) of the month ``months`` after the one holding ``moment``."""
    index = moment.astimezone(UTC).year * 12 + moment.astimezone(UTC).month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def retentions(settings: Settings, sinks: Sequence[str]) -> list[Retention]:
    def hours(value: float) -> timedelta | None:
        return timedelta(hours=value) if value > 0 else None

    return [
        Retention("status_history", hours(settings.status_history_retention_hours)),
        # Audit rows are kept for good (docs/audit.md): months are created, never dropped.
        Retention("audit_log", None),
        Retention("outbox_events", hours(settings.event_retention_hours), sinks),
        Retention(
            "webhook_deliveries", hours(settings.webhook_delivery_retention_hours), in_flight=True
        ),
        # After the deliveries: their drops of this pass decide which attempt months may go.
        Retention(
            "webhook_delivery_attempts",
            hours(settings.webhook_delivery_retention_hours),
            follows="webhook_deliveries",
        ),
    ]


class PartitionMaintainer:
    def __init__(self, database: Database, tables: Sequence[Retention], months_ahead: int) -> None:
        self.database = database
        self.tables = tables
        self.months_ahead = months_ahead

    async def run_once(self, now: datetime | None = None) -> list[TableReport]:
        """Create and drop what ``now`` calls for, table by table."""
        moment = now or datetime.now(UTC)
        return [await self._maintain(table, moment) for table in self.tables]

    async def run_job(self) -> int:
        """The worker job's pass: how many partitions it created or dropped."""
        reports = await self.run_once()
        return sum(len(report.created) + len(report.dropped) for report in reports)

    async def _maintain(self, retention: Retention, now: datetime) -> TableReport:
        report = TableReport(retention.table)
        async with self.database.sessionmaker() as session, session.begin():
            repository = PartitionRepository(session)
            if not await repository.is_partitioned(retention.table):
                report.partitioned = False  # a schema before 0019: nothing to do
                return report
            await repository.limit_lock_wait(_LOCK_TIMEOUT_MS)
            existing = await repository.partitions(retention.table)
            await self._create_ahead(repository, retention.table, existing, now, report)
        if retention.keep is None:
            return report
        async with self.database.sessionmaker() as session, session.begin():
            repository = PartitionRepository(session)
            await repository.limit_lock_wait(_LOCK_TIMEOUT_MS)
            existing = await repository.partitions(retention.table)
            await self._drop_expired(repository, retention, existing, now - retention.keep, report)
        return report

    async def _create_ahead(
        self,
        repository: PartitionRepository,
        table: str,
        existing: list[Partition],
        now: datetime,
        report: TableReport,
    ) -> None:
        # From the end of the last partition (a month start) to the months ahead of ``now``: a
        # process back after an outage fills the months it missed too, so ranges stay contiguous.
        covered_until = max((p.upper for p in existing), default=month_start(now))
        while covered_until < month_start(now, self.months_ahead + 1):
            report.created.append(await repository.create(table, covered_until))
            covered_until = month_start(covered_until, 1)

    async def _drop_expired(
        self,
        repository: PartitionRepository,
        retention: Retention,
        existing: list[Partition],
        cutoff: datetime,
        report: TableReport,
    ) -> None:
        # Whole partitions only: every row of one whose upper bound is at or before the cutoff is
        # past retention. Oldest first; an unpublished outbox partition, or a deliveries one with
        # a delivery still to send (or, for attempts, a deliveries month still kept), stops the
        # drops (later ones hold later rows).
        floor = await self._floor(repository, retention)
        locked = False
        for partition in existing:
            if partition.upper > cutoff:
                return
            if retention.sinks is not None and not await repository.published_entirely(
                partition.name, retention.sinks
            ):
                report.kept_unpublished.append(partition.name)
                return
            if retention.in_flight and not locked:
                # The lock the drop takes anyway, taken before the check: a redelivery cannot
                # make a delivery of the month pending again between the check and the drop.
                await repository.lock_parent(retention.table)
                locked = True
            if retention.in_flight and await repository.holds_in_flight(partition.name):
                report.kept_in_flight.append(partition.name)
                return
            if retention.follows is not None and (floor is None or partition.upper > floor):
                report.kept_in_flight.append(partition.name)
                return
            await repository.drop(partition.name)
            report.dropped.append(partition.name)

    @staticmethod
    async def _floor(repository: PartitionRepository, retention: Retention) -> datetime | None:
        """Where the partitions of the table ``retention`` follows now begin: the lower bound of
        its oldest (None when that is the legacy one, from MINVALUE, or when it has none: then
        nothing may go)."""
        if retention.follows is None:
            return None
        remaining = await repository.partitions(retention.follows)
        return remaining[0].lower if remaining else None
