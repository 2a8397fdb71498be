"""Run liveness: heartbeats, and the reaper that fails running runs which stopped beating or
ran too long."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role
from expsvc.auth.principal import REAPER, Principal
from expsvc.capture.service import RunNotRunning
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.grant.service import GrantService
from expsvc.ids import new_id
from expsvc.lifecycle import Action, EntityKind, Source
from expsvc.liveness.repository import LivenessRepository, StaleRun
from expsvc.observability.tracing import span
from expsvc.run.repository import RunRepository
from expsvc.run.service import RunNotFound
from expsvc.transitions import transition_many

_log = structlog.get_logger("expsvc.reaper")


class HeartbeatService:
    def __init__(self, session: AsyncSession) -> None:
        self.liveness = LivenessRepository(session)
        self.runs = RunRepository(session)
        self.grants = GrantService(session)

    async def beat(self, principal: Principal, run_id: uuid.UUID) -> None:
        """Record that the running run is alive: one UPDATE, which also checks that the caller
        is an editor of the run's experiment; nothing else is written.

        Only when it changed nothing: 404 if the run does not exist or the caller may not read
        it, 403 if it may only read it, else 409 (not running)."""
        if await self.liveness.beat(run_id, principal):
            return
        run = await self.runs.get_readable(run_id, principal)
        if run is None:
            raise RunNotFound(run_id)
        await self.grants.require(principal, run.experiment_id, Role.editor)
        raise RunNotRunning(
            f"run {run_id} is {run.status}; only running runs take heartbeats",
            run_id=run_id,
            run_status=run.status,
        )


class RunReaper:
    """Fails running runs past their heartbeat timeout or maximum duration, a batch at a time.

    Each batch is one transaction: the runs are claimed ``FOR NO KEY UPDATE SKIP LOCKED`` and
    failed through :func:`expsvc.transitions.transition_many`, one call per reason (history,
    audit, event with the batch's id; running capture sessions stopped), all committed
    together or not at all.
    """

    def __init__(
        self,
        database: Database,
        *,
        heartbeat_timeout: int,
        max_duration: int | None,
        batch_size: int,
    ) -> None:
        self.database = database
        self.heartbeat_timeout = heartbeat_timeout
        self.max_duration = max_duration
        self.batch_size = batch_size

    async def reap_batch(self) -> int:
        """Fail one batch of stale runs; how many."""
        batch_id = new_id()
        context = ActionContext(
            principal=REAPER, request_id=None, source=Source.worker, batch_id=batch_id
        )
        failed: list[tuple[uuid.UUID, str]] = []
        with span("reap_runs", batch_id=batch_id):
            await self._reap(context, failed)
        for run_id, reason in failed:
            _log.warning("run reaped", run_id=str(run_id), reason=reason, batch_id=str(batch_id))
        return len(failed)

    async def _reap(self, context: ActionContext, failed: list[tuple[uuid.UUID, str]]) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            stale = await LivenessRepository(session).claim_stale(
                self.heartbeat_timeout, self.max_duration, self.batch_size
            )
            for reason, run_ids in _by_reason(stale).items():
                planned = await transition_many(
                    session, EntityKind.run, run_ids, Action.fail, context,
                    reason=reason, atomic=False, skip_locked=True,
                )  # fmt: skip
                failed += [(p.id, reason) for p in planned if p.refusal is None]


def _by_reason(stale: Sequence[StaleRun]) -> dict[str, list[uuid.UUID]]:
    """The runs' ids by reason (heartbeat_lost, max_duration_exceeded), each in id order."""
    grouped: dict[str, list[uuid.UUID]] = {}
    for run in stale:
        grouped.setdefault(run.reason, []).append(run.id)
    return {reason: sorted(ids) for reason, ids in sorted(grouped.items())}
