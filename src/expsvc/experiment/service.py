"""Experiment rules. Raises typed errors; flushes, never commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role, needed_for, principal_grantee
from expsvc.auth.principal import Principal
from expsvc.bulk.schemas import BulkResult, ExperimentBulkTags
from expsvc.bulk.service import answer, change_tags, cyclic_gc_paused, selected_ids
from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.experiment.errors import (
    ExperimentHasRunningRuns,
    ExperimentNotDeletable,
    ExperimentNotFound,
)
from expsvc.experiment.repository import ExperimentRepository
from expsvc.experiment.schemas import (
    ExperimentCreate,
    ExperimentQuery,
    ExperimentRead,
    ExperimentUpdate,
)
from expsvc.grant.service import GrantService
from expsvc.ids import new_id
from expsvc.lifecycle import Action, EntityKind, Status
from expsvc.pagination import Ordering, PageRequest, RowPage
from expsvc.run.repository import RunRepository
from expsvc.schemas import SortDirection, TotalMode
from expsvc.transitions import apply_transition, apply_update, check_version

_KIND = EntityKind.experiment
# How many blocking runs a 409 names (``more`` says whether there are others).
_BLOCKING_RUNS_SHOWN = 20


class ExperimentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repository = ExperimentRepository(session)
        self.changes = ChangeRecorder(session)
        self.grants = GrantService(session)

    async def create(self, context: ActionContext, data: ExperimentCreate) -> ExperimentRead:
        """Create the experiment; its creator is its owner."""
        row = await self.repository.insert(
            {"id": new_id(), "created_by": context.actor, **data.model_dump()}
        )
        await self.grants.repository.grant_owner(
            [row.id], principal_grantee(context.actor), context.actor
        )
        await self.changes.created(_KIND, [row], context)
        return ExperimentRead.model_validate(row)

    async def get(self, principal: Principal, experiment_id: uuid.UUID) -> Row[Any]:
        """The experiment's row (answered as an :class:`ExperimentRead`), if ``principal``
        may read it; 404 alike when it may not and when it does not exist."""
        row = await self.repository.get_readable(experiment_id, principal)
        if row is None:
            raise ExperimentNotFound(experiment_id)
        return row

    async def search(
        self, principal: Principal, query: ExperimentQuery, total_budget_ms: int
    ) -> tuple[RowPage, dict[str, Any]]:
        """One page of experiments (rows, answered as an :class:`ExperimentPage`) and the
        page's total fields (``total_size``, ``total_exact``) when ``query.total`` asks."""
        page = PageRequest(
            ordering=Ordering(query.order_by.value, descending=query.order is SortDirection.desc),
            filters=query.filters(),
            page_size=query.page_size,
            page_token=query.page_token,
        )
        rows = await self.repository.search(
            query, principal, page.ordering, page.after(), query.page_size + 1
        )
        totals: dict[str, Any] = {"total_size": None, "total_exact": None}
        if query.total is not None:
            budget = total_budget_ms if query.total is TotalMode.exact else None
            size, exact = await self.repository.count(query, principal, budget)
            totals = {"total_size": size, "total_exact": exact}
        return RowPage(rows[: query.page_size], page.next_token(rows)), totals

    async def update(
        self,
        context: ActionContext,
        experiment_id: uuid.UUID,
        data: ExperimentUpdate,
        expected: ExpectedVersions,
    ) -> ExperimentRead:
        row = await apply_update(
            self.session, self.repository, _KIND, experiment_id,
            data.model_dump(exclude_unset=True), context, expected, ExperimentNotFound,
        )  # fmt: skip
        return ExperimentRead.model_validate(row)

    async def delete(
        self, context: ActionContext, experiment_id: uuid.UUID, expected: ExpectedVersions
    ) -> None:
        current = await self.repository.lock_for_change(
            experiment_id, context.principal, Role.owner
        )
        if current is None:
            await self.grants.refuse(
                self.repository, experiment_id, context.principal, Role.owner, ExperimentNotFound
            )
        check_version(_KIND, current, expected)
        if current.status != Status.draft:
            raise ExperimentNotDeletable(
                f"only draft experiments can be deleted; this one is {current.status}",
                current_status=current.status,
            )
        runs = await RunRepository(self.session).count_in_experiment(experiment_id)
        if runs:
            raise ExperimentNotDeletable(
                f"experiment {experiment_id} has {runs} runs; archive it instead", runs=runs
            )
        await self.repository.delete(experiment_id)
        await self.changes.deleted(_KIND, [current], context)

    async def bulk_tag(self, context: ActionContext, request: ExperimentBulkTags) -> BulkResult:
        """Add and/or remove tags on many experiments (see :mod:`expsvc.bulk.service`)."""
        with cyclic_gc_paused():
            ids = await selected_ids(
                request.ids,
                request.filter,
                lambda where, limit: self.repository.matching_ids(where, limit, context.principal),
                "experiments",
            )
            batch_id = new_id()
            items = await change_tags(
                self.session, _KIND, self.repository, ids, request, context.in_batch(batch_id)
            )
            return answer(items, request, batch_id)

    async def transition(
        self,
        context: ActionContext,
        experiment_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> ExperimentRead:
        """Apply ``action``; closing (finish, fail, archive) waits for no run to be running.
        Archiving takes an owner, the other actions an editor (checked in the statements)."""
        if action is not Action.start:
            await self._refuse_if_runs_running(context, experiment_id, action)
        done = await apply_transition(
            self.session, _KIND, experiment_id, action, context, expected,
            ExperimentNotFound, reason,
        )  # fmt: skip
        return ExperimentRead.model_validate(done.row)

    async def _refuse_if_runs_running(
        self, context: ActionContext, experiment_id: uuid.UUID, action: Action
    ) -> None:
        # Lock first: a run starting concurrently holds FOR SHARE and is seen after it commits.
        # Only for a caller who may act: the running runs are nobody else's business.
        needed = needed_for(_KIND, action)
        if await self.repository.lock_for_change(experiment_id, context.principal, needed) is None:
            await self.grants.refuse(
                self.repository, experiment_id, context.principal, needed, ExperimentNotFound
            )
        running = await RunRepository(self.session).running_ids(
            experiment_id, _BLOCKING_RUNS_SHOWN + 1
        )
        if running:
            shown = running[:_BLOCKING_RUNS_SHOWN]
            raise ExperimentHasRunningRuns(
                f"experiment {experiment_id} has running runs; finish or fail them first",
                running_run_ids=[str(run_id) for run_id in shown],
                more=len(running) > len(shown),
            )
