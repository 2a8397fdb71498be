"""Run rules: creation inside open experiments, transitions and their effects elsewhere."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role
from expsvc.auth.principal import Principal
from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import Conflict, NotFound
from expsvc.experiment.errors import ExperimentNotFound
from expsvc.grant.service import GrantService
from expsvc.ids import new_id
from expsvc.lifecycle import Action, EntityKind, Status
from expsvc.observability.tracing import span
from expsvc.pagination import Ordering, PageRequest, RowPage
from expsvc.run.repository import RunRepository, RunRow
from expsvc.run.schemas import (
    RunCreate,
    RunQuery,
    RunRead,
    RunUpdate,
)
from expsvc.schemas import SortDirection, TotalMode
from expsvc.transitions import apply_transition, apply_update

_OPEN_EXPERIMENT = frozenset({Status.draft, Status.running})


class RunNotFound(NotFound):
    slug, title = "run-not-found", "Run not found"

    def __init__(self, run_id: uuid.UUID) -> None:
        super().__init__(f"run {run_id} does not exist", run_id=run_id)


class ExperimentClosed(Conflict):
    slug, title = "experiment-closed", "Experiment does not accept runs"


class RunService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.runs = RunRepository(session)
        self.changes = ChangeRecorder(session)

    async def create(
        self, context: ActionContext, experiment_id: uuid.UUID, data: RunCreate
    ) -> RunRow:
        """The created run's row (the endpoint answers it as a :class:`RunRead`)."""
        with span("create_run", experiment_id=experiment_id):
            return await self._create(context, experiment_id, data)

    async def _create(
        self, context: ActionContext, experiment_id: uuid.UUID, data: RunCreate
    ) -> RunRow:
        """The created run's row (the endpoint answers it as a :class:`RunRead`)."""
        values = data.model_dump(exclude={"experiment_id"})
        experiment_status, allowed, row = await self.runs.create_in_open_experiment(
            {"id": new_id(), "experiment_id": experiment_id, "created_by": context.actor, **values},
            context.principal,
        )
        if experiment_status is None:
            raise ExperimentNotFound(experiment_id)
        if not allowed:  # tell 404 (may not read) from 403 (may read, not edit)
            await GrantService(self.session).require(context.principal, experiment_id, Role.editor)
        if row is None:
            raise ExperimentClosed(
                f"experiment {experiment_id} is {experiment_status}; runs can be created only "
                "in draft or running experiments",
                experiment_status=experiment_status,
            )
        await self.changes.created(EntityKind.run, [row], context)
        return row

    async def get(self, principal: Principal, run_id: uuid.UUID) -> Row[Any]:
        """The run's row (the endpoint answers it as a :class:`RunRead`) if ``principal`` may
        read it; 404 alike when it may not and when it does not exist."""
        row = await self.runs.get_readable(run_id, principal)
        if row is None:
            raise RunNotFound(run_id)
        return row

    async def search(
        self, principal: Principal, query: RunQuery, total_budget_ms: int
    ) -> tuple[RowPage, dict[str, Any]]:
        """One page of runs (rows, answered as a :class:`RunPage`) and the page's total
        fields (``total_size``, ``total_exact``) when ``query.total`` asks for them."""
        page = PageRequest(
            ordering=Ordering(query.order_by.value, descending=query.order is SortDirection.desc),
            filters=query.filters(),
            page_size=query.page_size,
            page_token=query.page_token,
        )
        rows = await self.runs.search(
            query, principal, page.ordering, page.after(), query.page_size + 1
        )
        totals: dict[str, Any] = {"total_size": None, "total_exact": None}
        if query.total is not None:
            budget = total_budget_ms if query.total is TotalMode.exact else None
            size, exact = await self.runs.count(query, principal, budget)
            totals = {"total_size": size, "total_exact": exact}
        return RowPage(rows[: query.page_size], page.next_token(rows)), totals

    async def update(
        self,
        context: ActionContext,
        run_id: uuid.UUID,
        data: RunUpdate,
        expected: ExpectedVersions,
    ) -> RunRead:
        row = await apply_update(
            self.session, self.runs, EntityKind.run, run_id,
            data.model_dump(exclude_unset=True), context, expected, RunNotFound,
        )  # fmt: skip
        return RunRead.model_validate(row)

    async def transition(
        self,
        context: ActionContext,
        run_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> Row[Any]:
        """Apply ``action`` (validated against the action table) with its cascades: a draft
        experiment starts with its first run; a run that finishes or fails stops its running
        capture sessions (:mod:`expsvc.transitions`). The run's row after the change."""
        refuse = _refuse_start if action is Action.start else None
        done = await apply_transition(
            self.session, EntityKind.run, run_id, action, context, expected, RunNotFound,
            reason, refuse,
        )  # fmt: skip
        row: Row[Any] = done.row
        return row


def _refuse_start(
    experiment_id: uuid.UUID | None, experiment_status: str | None, status: Status, version: int
) -> None:
    # Runs cannot outlive their experiment (FK RESTRICT).
    assert experiment_id is not None
    assert experiment_status is not None
    if refusal := start_refused(experiment_id, Status(experiment_status)):
        raise refusal


def start_refused(experiment_id: uuid.UUID, status: Status) -> ExperimentClosed | None:
    """Why a run of this experiment cannot start, or None if it can (draft or running)."""
    if status in _OPEN_EXPERIMENT:
        return None
    return ExperimentClosed(
        f"experiment {experiment_id} is {status}; its runs cannot start",
        experiment_status=status,
    )
