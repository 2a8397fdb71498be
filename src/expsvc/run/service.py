"""Run rules: creation inside open experiments, transitions and their effects elsewhere."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.capture.repository import CaptureRepository
from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import Conflict, NotFound
from expsvc.experiment.repository import ExperimentRepository
from expsvc.experiment.service import ExperimentNotFound
from expsvc.ids import new_id
from expsvc.lifecycle import Action, EntityKind, Status
from expsvc.models import experiments
from expsvc.pagination import Ordering, PageRequest, RowPage
from expsvc.repository import ParentGuard
from expsvc.run.repository import RunRepository
from expsvc.run.schemas import (
    RunCreate,
    RunQuery,
    RunRead,
    RunUpdate,
    SortDirection,
)
from expsvc.transitions import (
    ParentCheck,
    Transitioned,
    apply_transition,
    apply_update,
    transition_values,
)

_OPEN_EXPERIMENT = frozenset({Status.draft, Status.running})
# A run starts only while its experiment is open, which is locked FOR SHARE meanwhile.
_EXPERIMENT_OPEN = ParentGuard(experiments, "experiment_id", _OPEN_EXPERIMENT)
FIRST_RUN_STARTED = "first run started"
_CAPTURE_STOP_REASONS = {Action.finish: "run_finished", Action.fail: "run_failed"}
_ENDS_CAPTURES = frozenset(_CAPTURE_STOP_REASONS)


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
        self.experiments = ExperimentRepository(session)
        self.changes = ChangeRecorder(session)

    async def create(
        self, context: ActionContext, experiment_id: uuid.UUID, data: RunCreate
    ) -> RunRead:
        values = data.model_dump(exclude={"experiment_id"})
        experiment_status, row = await self.runs.create_in_open_experiment(
            {"id": new_id(), "experiment_id": experiment_id, "created_by": context.actor, **values}
        )
        if experiment_status is None:
            raise ExperimentNotFound(experiment_id)
        if row is None:
            raise ExperimentClosed(
                f"experiment {experiment_id} is {experiment_status}; runs can be created only "
                "in draft or running experiments",
                experiment_status=experiment_status,
            )
        await self.changes.created(EntityKind.run, [row], context)
        return RunRead.model_validate(row)

    async def get(self, run_id: uuid.UUID) -> Row[Any]:
        """The run's row (the endpoint answers it as a :class:`RunRead`)."""
        row = await self.runs.get(run_id)
        if row is None:
            raise RunNotFound(run_id)
        return row

    async def search(self, query: RunQuery) -> RowPage:
        """One page of runs (rows, answered as a :class:`RunPage`)."""
        page = PageRequest(
            ordering=Ordering(query.order_by.value, descending=query.order is SortDirection.desc),
            filters=query.filters(),
            page_size=query.page_size,
            page_token=query.page_token,
        )
        rows = await self.runs.search(query, page.ordering, page.after(), query.page_size + 1)
        return RowPage(rows[: query.page_size], page.next_token(rows))

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
    ) -> RunRead:
        """Apply ``action`` (validated against the action table) with its cascades."""
        if action is Action.start:
            return await self.start(context, run_id, expected, reason)
        if action in _ENDS_CAPTURES:
            return await self._end(context, run_id, action, expected, reason)
        done = await self._transition(context, run_id, action, expected, reason)
        return RunRead.model_validate(done.row)

    async def start(
        self,
        context: ActionContext,
        run_id: uuid.UUID,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> RunRead:
        """draft → running; a draft experiment starts with its first run, in this transaction."""
        started = await self.experiments.start_draft_of_run(run_id)
        if started is not None:
            await self.record_experiments_started(context, [started])
        done = await self._transition(
            context, run_id, Action.start, expected, reason, (_EXPERIMENT_OPEN, _refuse_start)
        )
        return RunRead.model_validate(done.row)

    async def fail(
        self, context: ActionContext, run_id: uuid.UUID, expected: ExpectedVersions, reason: str
    ) -> RunRead:
        """running → failed with a reason; its running capture sessions stop with it."""
        return await self._end(context, run_id, Action.fail, expected, reason)

    async def _end(
        self,
        context: ActionContext,
        run_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> RunRead:
        done = await self._transition(context, run_id, action, expected, reason)
        # Always: a session started just before this run's lock was granted is running now,
        # although the transition's own statement (its snapshot older) could not see it.
        await self.stop_running_captures(context, [run_id], action)
        return RunRead.model_validate(done.row)

    async def _transition(
        self,
        context: ActionContext,
        run_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
        parent: tuple[ParentGuard, ParentCheck] | None = None,
    ) -> Transitioned:
        return await apply_transition(
            self.session, self.runs, EntityKind.run, run_id, action, context, expected,
            RunNotFound, reason, parent,
        )  # fmt: skip

    async def record_experiments_started(
        self, context: ActionContext, started: Sequence[Row[Any]]
    ) -> None:
        """Record draft experiments that started because one of their runs did."""
        await self.changes.transitioned(
            EntityKind.experiment, Action.start, started, Status.draft,
            context.as_system(), FIRST_RUN_STARTED,
        )  # fmt: skip

    async def stop_running_captures(
        self, context: ActionContext, run_ids: Sequence[uuid.UUID], cause: Action
    ) -> None:
        """Stop the running capture sessions of runs that ``cause`` (finish or fail) ended."""
        stopped = await CaptureRepository(self.session).stop_running_of_runs(
            run_ids, transition_values(Status.finished)
        )
        await self.changes.transitioned(
            EntityKind.capture, Action.stop, stopped, Status.running, context.as_system(),
            _CAPTURE_STOP_REASONS[cause],
        )  # fmt: skip


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
