"""Capture reconciliation: make our capture sessions agree with their runs and with Ingest.

One pass, run periodically by the worker (one process at a time, under an advisory lock) and
on demand by ``expsvc telemetry reconcile``:

1. running sessions whose run has ended are stopped (reason ``run_closed``);
2. with ``EXPSVC_TELEMETRY_INGEST_URL`` set, Ingest's status API is asked about every running
   session: those it has stopped are stopped (``ingest_stopped``), its ``last_data_at`` moves
   ``last_telemetry_at`` forward, and the ones it does not know are reported. If Ingest is down
   the pass reports the error and goes on;
3. running sessions with no telemetry for ``EXPSVC_TELEMETRY_LOST_AFTER_SECONDS`` (counted from
   the start when none ever came) are failed (``telemetry_lost``);
4. inbox ids and orphans past ``EXPSVC_INTEGRATION_RETENTION_HOURS`` are forgotten, and the
   orphan telemetry kept is reported.

Each change is a transition with source ``worker`` (history, audit, outbox), in short
transactions of at most :data:`BATCH_SIZE` sessions; no transaction stays open across a call to
Ingest. The report is stored (the last :data:`KEEP_REPORTS`) for ``GET
/v1/captures/reconciliation``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.principal import CAPTURE_RECONCILER
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.integration.repository import purge_inbox
from expsvc.lifecycle import Action, EntityKind, Source
from expsvc.observability.tracing import span
from expsvc.settings import Settings
from expsvc.telemetry.ingest import MAX_IDS_PER_REQUEST, IngestClient, IngestUnavailable
from expsvc.telemetry.reconciliation_repository import ReconciliationRepository
from expsvc.telemetry.reconciliation_schemas import (
    MAX_LISTED,
    CaseReport,
    IngestCheck,
    IngestReport,
    OrphanRead,
    OrphanReport,
    PurgeReport,
    ReconciliationFindings,
)
from expsvc.telemetry.repository import TelemetryRepository
from expsvc.transitions import Planned, transition_many

if TYPE_CHECKING:
    from expsvc.worker.runtime import Work, WorkerContext

BATCH_SIZE = 500
KEEP_REPORTS = 100
PURGE_BATCH_SIZE = 5000
LISTED_ORPHANS = 50
JOB_NAME = "capture-reconciliation"
WORKER = CAPTURE_RECONCILER  # reserved: no caller can act under it (auth.principal)
# A fixed 64-bit advisory lock id, derived from the job's name so features cannot collide.
LOCK_ID = int.from_bytes(
    hashlib.sha256(f"expsvc.job.{JOB_NAME}".encode()).digest()[:8], "big", signed=True
)

_log = structlog.get_logger("expsvc.reconciliation")


class _Case:
    """Capture ids one rule acted on: counted in full, listed up to :data:`MAX_LISTED`."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: list[uuid.UUID] = []

    def add(self, ids: Iterable[uuid.UUID]) -> None:
        for capture_id in ids:
            self.count += 1
            if len(self.ids) < MAX_LISTED:
                self.ids.append(capture_id)

    def report(self) -> CaseReport:
        return CaseReport(count=self.count, capture_ids=self.ids)


class Reconciler:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.context = ActionContext(principal=WORKER, request_id=None, source=Source.worker)

    async def run(self) -> ReconciliationFindings:
        """One pass: act, purge, report (see the module's docstring)."""
        run_closed, ingest_stopped, telemetry_lost = _Case(), _Case(), _Case()
        await self._close_all(
            run_closed,
            Action.stop,
            "run_closed",
            lambda: ReconciliationRepository.of_closed_runs(BATCH_SIZE),
        )
        ingest = await self._pull_ingest(ingest_stopped)
        lost_after = self.settings.telemetry_lost_after_seconds
        if lost_after > 0:
            await self._close_all(
                telemetry_lost,
                Action.fail,
                "telemetry_lost",
                lambda: ReconciliationRepository.silent_for(lost_after, BATCH_SIZE),
            )
        purged = await self._purge()
        orphans = await self._orphans()
        return ReconciliationFindings(
            stopped_run_closed=run_closed.report(),
            stopped_in_ingest=ingest_stopped.report(),
            failed_telemetry_lost=telemetry_lost.report(),
            ingest=ingest,
            orphans=orphans,
            purged=purged,
        )

    async def _close_all(
        self, case: _Case, action: Action, reason: str, victims: Callable[[], Select[Any]]
    ) -> None:
        """Close batches of sessions until a batch comes back short."""
        while True:
            async with self.database.sessionmaker() as session, session.begin():
                rows = await self._close(session, victims(), action, reason)
            case.add(row.id for row in rows)
            if len(rows) < BATCH_SIZE:
                return

    async def _close(
        self, session: AsyncSession, victims: Select[Any], action: Action, reason: str
    ) -> list[Planned]:
        """Claim the running sessions of ``victims`` and apply ``action`` through the engine;
        the sessions it changed."""
        ids = await ReconciliationRepository(session).claim_running(victims)
        planned = await transition_many(
            session, EntityKind.capture, ids, action, self.context,
            reason=reason, atomic=False, skip_locked=True,
        )  # fmt: skip
        return [p for p in planned if p.refusal is None]

    async def _pull_ingest(self, stopped: _Case) -> IngestReport:
        if self.settings.telemetry_ingest_url is None:
            return IngestReport(status=IngestCheck.disabled)
        report = IngestReport(status=IngestCheck.ok)
        after: uuid.UUID | None = None
        async with IngestClient(self.settings) as ingest:
            while True:
                async with self.database.sessionmaker() as session:
                    page = list(
                        await ReconciliationRepository(session).running_after(
                            after, MAX_IDS_PER_REQUEST
                        )
                    )
                if not page:
                    return report
                after = page[-1].id
                try:
                    states = await ingest.sessions([row.capture_session_id for row in page])
                except IngestUnavailable as error:
                    _log.warning("telemetry ingest unavailable", error=str(error))
                    report.status, report.error = IngestCheck.error, str(error)
                    return report
                report.checked += len(page)
                await self._apply_ingest_states(page, states, stopped, report)

    async def _apply_ingest_states(
        self, page: list[Any], states: dict[str, Any], stopped: _Case, report: IngestReport
    ) -> None:
        to_stop: list[str] = []
        seen: dict[uuid.UUID, datetime] = {}
        runs_seen: dict[uuid.UUID, datetime] = {}
        for row in page:
            state = states.get(row.capture_session_id)
            if state is None:
                report.unknown_to_ingest_count += 1
                if len(report.unknown_to_ingest) < MAX_LISTED:
                    report.unknown_to_ingest.append(row.capture_session_id)
                continue
            if state.last_data_at is not None and (
                row.last_telemetry_at is None or state.last_data_at > row.last_telemetry_at
            ):
                seen[row.id] = state.last_data_at
                runs_seen[row.run_id] = max(
                    state.last_data_at, runs_seen.get(row.run_id, state.last_data_at)
                )
            if state.status == "stopped":
                to_stop.append(row.capture_session_id)
        async with self.database.sessionmaker() as session, session.begin():
            # Runs, then sessions (the heartbeat lock order), then the transitions.
            await TelemetryRepository(session).record_heartbeats(seen, runs_seen)
            victims = ReconciliationRepository.with_capture_session_ids(to_stop)
            rows = (
                await self._close(session, victims, Action.stop, "ingest_stopped")
                if to_stop
                else []
            )
        report.telemetry_refreshed += len(seen)
        stopped.add(row.id for row in rows)

    async def _orphans(self) -> OrphanReport:
        async with self.database.sessionmaker() as session:
            repository = ReconciliationRepository(session)
            count, events = await repository.orphan_totals()
            rows = await repository.recent_orphans(LISTED_ORPHANS)
        return OrphanReport(
            count=count, events=events, items=[OrphanRead.model_validate(row) for row in rows]
        )

    async def _purge(self) -> PurgeReport:
        hours = self.settings.integration_retention_hours
        inbox = 0
        while True:
            async with self.database.sessionmaker() as session, session.begin():
                deleted = await purge_inbox(session, hours, PURGE_BATCH_SIZE)
            inbox += deleted
            if deleted < PURGE_BATCH_SIZE:
                break
        async with self.database.sessionmaker() as session, session.begin():
            orphans = await ReconciliationRepository(session).purge_orphans(hours)
        return PurgeReport(inbox_events=inbox, orphans=orphans)


async def reconcile(database: Database, settings: Settings) -> int | None:
    """One reconciliation pass, stored as the latest report; the number of sessions it
    stopped or failed, or None when another process is reconciling right now.

    The session-level advisory lock lives on a connection of its own, held for the pass.
    """
    async with database.engine.connect() as connection:
        locked = await connection.scalar(select(func.pg_try_advisory_lock(LOCK_ID)))
        await connection.commit()
        if not locked:
            return None
        try:
            return await _reconcile_and_report(database, settings)
        finally:
            await connection.execute(select(func.pg_advisory_unlock(LOCK_ID)))
            await connection.commit()


async def _reconcile_and_report(database: Database, settings: Settings) -> int:
    started_at = datetime.now(UTC)
    with span("reconciliation"):
        findings = await Reconciler(database, settings).run()
    finished_at = datetime.now(UTC)
    async with database.sessionmaker() as session, session.begin():
        await ReconciliationRepository(session).save_report(
            started_at, finished_at, findings.model_dump(mode="json"), KEEP_REPORTS
        )
    if database.domain_metrics is not None:  # each batch has committed by now
        database.domain_metrics.drift(
            {
                "run_closed": findings.stopped_run_closed.count,
                "ingest_stopped": findings.stopped_in_ingest.count,
                "telemetry_lost": findings.failed_telemetry_lost.count,
                "unknown_to_ingest": findings.ingest.unknown_to_ingest_count,
            }
        )
    changed = (
        findings.stopped_run_closed.count
        + findings.stopped_in_ingest.count
        + findings.failed_telemetry_lost.count
    )
    if changed or findings.ingest.status is IngestCheck.error:
        _log.info(
            "capture reconciliation",
            stopped_run_closed=findings.stopped_run_closed.count,
            stopped_in_ingest=findings.stopped_in_ingest.count,
            failed_telemetry_lost=findings.failed_telemetry_lost.count,
            ingest=findings.ingest.status.value,
            orphans=findings.orphans.count,
        )
    return changed


def reconciliation_jobs(context: WorkerContext) -> list[Work]:
    """The periodic pass, for :data:`expsvc.worker.jobs.JOB_FACTORIES` (0 seconds: off)."""
    interval = context.settings.capture_reconcile_interval_seconds
    if interval <= 0:
        return []
    from expsvc.worker.runtime import Job

    # Not a runner singleton: the pass takes its own advisory lock (the CLI shares it).
    return [Job(JOB_NAME, interval, lambda: reconcile(context.database, context.settings))]
