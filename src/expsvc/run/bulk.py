"""Runs in bulk: one lifecycle action, or a tag change, on up to 10,000 runs per request."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.bulk.schemas import (
    BulkItemResult,
    BulkMode,
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
)
from expsvc.context import ActionContext
from expsvc.ids import new_id
from expsvc.lifecycle import Action, EntityKind, InvalidTransition, Status, plan_transition
from expsvc.observability.tracing import span
from expsvc.run.repository import RunRepository
from expsvc.run.schemas import RunFilter
from expsvc.run.service import start_refused
from expsvc.transitions import Planned, Refusal, TransitionRefused, transition_many

_KIND = EntityKind.run


class RunBulkService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.runs = RunRepository(session)

    async def transition(self, context: ActionContext, request: RunBulkTransition) -> BulkResult:
        """Apply one action to the selected runs, with the single-run rules and cascades
        (:func:`expsvc.transitions.transition_many`).

        Locks, in this order and each in id order: for ``start``, the runs' experiments (as
        a single start does), then the runs. Concurrent single-run actions and other bulk
        operations therefore queue behind each other and never deadlock.
        """
        with cyclic_gc_paused(), span("bulk", operation="transition", action=request.action):
            return await self._transition(context, request)

    async def tag(self, context: ActionContext, request: RunBulkTags) -> BulkResult:
        with cyclic_gc_paused(), span("bulk", operation="tags", entity="run"):
            ids = await selected_ids(request.ids, request.filter, self._matching(context), "runs")
            batch_id = new_id()
            items = await change_tags(
                self.session, _KIND, self.runs, ids, request, context.in_batch(batch_id)
            )
            return answer(items, request, batch_id)

    def _matching(
        self, context: ActionContext
    ) -> Callable[[RunFilter, int], Awaitable[list[uuid.UUID]]]:
        """The runs a filter selects, among those the caller may edit."""

        async def matching(where: RunFilter, limit: int) -> list[uuid.UUID]:
            return await self.runs.matching_ids(where, limit, context.principal)

        return matching

    async def _transition(self, context: ActionContext, request: RunBulkTransition) -> BulkResult:
        action = Action(request.action.value)
        ids = await selected_ids(request.ids, request.filter, self._matching(context), "runs")
        batch_id = new_id()
        try:
            planned = await transition_many(
                self.session, _KIND, ids, action, context.in_batch(batch_id),
                reason=request.reason, expected=lambda run_id: _versions(request, run_id),
                atomic=request.mode is BulkMode.atomic, dry_run=request.dry_run,
            )  # fmt: skip
        except TransitionRefused as refused:
            items = [_item(p, action, request) for p in refused.planned]
            refuse_conflicts(items, request, f"runs cannot {action}")
            raise AssertionError("an atomic transition refused with no conflict") from refused
        return answer([_item(p, action, request) for p in planned], request, batch_id)


def _versions(request: RunBulkTransition, run_id: uuid.UUID) -> frozenset[int] | None:
    version = request.expected_version(run_id)
    return None if version is None else frozenset({version})


def _item(planned: Planned, action: Action, request: RunBulkTransition) -> BulkItemResult:
    """A run's outcome, as a single action would refuse it (checked in the same order)."""
    run_id = planned.id
    if planned.refusal is None:
        return item(run_id, BulkOutcome.ok, planned)
    if planned.refusal is Refusal.not_found:
        return item(run_id, BulkOutcome.not_found, detail=f"run {run_id} does not exist")
    if planned.refusal is Refusal.parent:
        assert planned.parent_id is not None
        assert planned.parent_status is not None
        refusal = start_refused(planned.parent_id, Status(planned.parent_status))
        assert refusal is not None
        return item(run_id, BulkOutcome.experiment_closed, planned, refusal.detail)
    if planned.refusal is Refusal.version:
        refused = version_mismatch(_KIND, request, planned)
        assert refused is not None
        return refused
    assert planned.status is not None
    try:
        plan_transition(_KIND, action, planned.status)
    except InvalidTransition as error:
        return item(run_id, BulkOutcome.invalid_transition, planned, error.detail)
    raise AssertionError(f"run {run_id}: refused for no known reason")
