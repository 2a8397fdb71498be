"""Runs in bulk: one lifecycle action, or a tag change, on up to 10,000 runs per request."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.bulk.schemas import (
    BulkItemResult,
    BulkOutcome,
    BulkResult,
    RunBulkTags,
    RunBulkTransition,
)
from expsvc.bulk.service import (
    answer,
    change_tags,
    cyclic_gc_paused,
    item,
    refuse_conflicts,
    selected_ids,
    version_mismatch,
    with_rows,
)
from expsvc.changes import ChangeRecorder
from expsvc.context import ActionContext
from expsvc.experiment.repository import ExperimentRepository
from expsvc.ids import new_id
from expsvc.lifecycle import (
    TRANSITIONS,
    Action,
    EntityKind,
    InvalidTransition,
    Status,
    plan_transition,
)
from expsvc.run.repository import RunRepository
from expsvc.run.service import RunService, start_refused
from expsvc.transitions import transition_values

_KIND = EntityKind.run
_ENDS_CAPTURES = frozenset({Action.finish, Action.fail})


class RunBulkService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.runs = RunRepository(session)
        self.experiments = ExperimentRepository(session)
        self.rules = RunService(session)

    async def transition(self, context: ActionContext, request: RunBulkTransition) -> BulkResult:
        """Apply one action to the selected runs, with the single-run rules and cascades.

        Locks, in this order and each in id order: for ``start``, the runs' experiments (as
        a single start does), then the runs. Concurrent single-run actions and other bulk
        operations therefore queue behind each other and never deadlock.
        """
        with cyclic_gc_paused():
            return await self._transition(context, request)

    async def tag(self, context: ActionContext, request: RunBulkTags) -> BulkResult:
        with cyclic_gc_paused():
            ids = await selected_ids(request.ids, request.filter, self.runs.matching_ids, "runs")
            batch_id = new_id()
            items = await change_tags(
                self.session, _KIND, self.runs, ids, request, context.in_batch(batch_id)
            )
            return answer(items, request, batch_id)

    async def _transition(self, context: ActionContext, request: RunBulkTransition) -> BulkResult:
        action = Action(request.action.value)
        ids = await selected_ids(request.ids, request.filter, self.runs.matching_ids, "runs")
        batch_id = new_id()
        experiments: Mapping[uuid.UUID, Row[Any]] = {}
        if action is Action.start:
            experiments = await self.experiments.lock_many(
                await self.runs.experiment_ids(ids), ["status"]
            )
        current = await self.runs.lock_many(ids, ["experiment_id", "status", "version"])
        if action is Action.start:
            # Only a run committed between the two reads could belong to an experiment not
            # locked yet (and only if the client already knew its id): lock that one late.
            late = {run.experiment_id for run in current.values()} - experiments.keys()
            if late:
                experiments = {
                    **experiments,
                    **await self.experiments.lock_many(sorted(late), ["status"]),
                }
        items = [self._plan(run_id, action, request, current, experiments) for run_id in ids]
        refuse_conflicts(items, request, f"runs cannot {action}")
        if not request.dry_run:
            items = await self._apply(
                context.in_batch(batch_id), action, request.reason, items, current, experiments
            )
        return answer(items, request, batch_id)

    @staticmethod
    def _plan(
        run_id: uuid.UUID,
        action: Action,
        request: RunBulkTransition,
        current: Mapping[uuid.UUID, Row[Any]],
        experiments: Mapping[uuid.UUID, Row[Any]],
    ) -> BulkItemResult:
        """The outcome for one run, checked in the order a single action checks it."""
        run = current.get(run_id)
        if run is None:
            return item(run_id, BulkOutcome.not_found, detail=f"run {run_id} does not exist")
        if action is Action.start:
            experiment = experiments[run.experiment_id]
            if refusal := start_refused(experiment.id, Status(experiment.status)):
                return item(run_id, BulkOutcome.experiment_closed, run, refusal.detail)
        if refused := version_mismatch(_KIND, request, run):
            return refused
        try:
            plan_transition(_KIND, action, Status(run.status))
        except InvalidTransition as error:
            return item(run_id, BulkOutcome.invalid_transition, run, error.detail)
        return item(run_id, BulkOutcome.ok, run)

    async def _apply(
        self,
        context: ActionContext,
        action: Action,
        reason: str | None,
        items: list[BulkItemResult],
        current: Mapping[uuid.UUID, Row[Any]],
        experiments: Mapping[uuid.UUID, Row[Any]],
    ) -> list[BulkItemResult]:
        ok = [i["id"] for i in items if i["outcome"] is BulkOutcome.ok]
        if not ok:
            return items
        if action is Action.start:
            await self._start_draft_experiments(context, ok, current, experiments)
        target = TRANSITIONS[action].target
        rows = await self.runs.update_many(ok, transition_values(target, reason))
        previous = [Status(current[row.id].status) for row in rows]
        await ChangeRecorder(self.session).transitioned(
            _KIND, action, rows, previous, context, reason
        )
        if action in _ENDS_CAPTURES:
            await self.rules.stop_running_captures(context, ok, action)
        return with_rows(items, rows)

    async def _start_draft_experiments(
        self,
        context: ActionContext,
        starting: Sequence[uuid.UUID],
        current: Mapping[uuid.UUID, Row[Any]],
        experiments: Mapping[uuid.UUID, Row[Any]],
    ) -> None:
        """A draft experiment starts with its first run (rows locked by :meth:`transition`)."""
        drafts = sorted(
            {
                current[run_id].experiment_id
                for run_id in starting
                if experiments[current[run_id].experiment_id].status == Status.draft
            }
        )
        if drafts:
            started = await self.experiments.update_many(drafts, transition_values(Status.running))
            await self.rules.record_experiments_started(context, started)
