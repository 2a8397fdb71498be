"""The one transition engine, and applying an update to one entity.

:func:`transition_many` is the only code that changes a status: single actions call it with one
id, bulk transitions, the run reaper and capture reconciliation with many. Each change writes
its status-history row, audit row and outbox event in the same transaction as the change, and
runs its cascades there too (a run's start starts its draft experiment; a run's finish or fail
stops its running capture sessions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, NoReturn

from sqlalchemy import Row, func
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role, access_parameters, needed_for
from expsvc.capture.repository import CaptureRepository
from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import PreconditionFailed, ProblemError
from expsvc.experiment.repository import ExperimentRepository
from expsvc.grant.service import GrantService
from expsvc.lifecycle import (
    ACTIONS,
    TRANSITIONS,
    Action,
    EntityKind,
    Status,
    allows,
    plan_transition,
    timestamp_column,
)
from expsvc.models import experiments, runs
from expsvc.observability.domain import KNOWN_REASONS, bounded
from expsvc.observability.tracing import span
from expsvc.repository import EntityRepository, ParentGuard, TransitionChange, TransitionOutcome
from expsvc.run.repository import RunRepository

FIRST_RUN_STARTED = "first run started"
# Actions allowed only while the entity's parent is in given statuses (locked meanwhile).
PARENT_GUARDS: dict[tuple[EntityKind, Action], ParentGuard] = {
    # A run starts only while its experiment is open (draft or running).
    (EntityKind.run, Action.start): ParentGuard(
        experiments, "experiment_id", frozenset({Status.draft, Status.running})
    ),
    # A capture session starts only while its run is running.
    (EntityKind.capture, Action.start): ParentGuard(runs, "run_id", frozenset({Status.running})),
}
_REPOSITORIES: dict[EntityKind, type[EntityRepository]] = {
    EntityKind.experiment: ExperimentRepository,
    EntityKind.run: RunRepository,
    EntityKind.capture: CaptureRepository,
}
_PARENT_REPOSITORIES = {experiments.name: ExperimentRepository, runs.name: RunRepository}
_CAPTURE_STOP_REASONS = {Action.finish: "run_finished", Action.fail: "run_failed"}
_CLOSING = frozenset({Action.finish, Action.fail, Action.archive})

# The versions a transition accepts for an entity id; None: any.
Expected = Callable[[uuid.UUID], frozenset[int] | None]


def any_version(entity_id: uuid.UUID) -> None:
    return None


class Refusal(StrEnum):
    """Why an entity's transition did not apply, in the order they are checked."""

    not_found = "not_found"
    parent = "parent"  # the parent's status does not allow it (PARENT_GUARDS)
    version = "version"  # the entity is at none of the expected versions
    table = "table"  # the action table does not allow it from the entity's status


@dataclass(frozen=True, slots=True)
class Planned:
    """One entity's part in a transition: allowed (and applied, unless a dry run) or refused.

    ``status`` and ``version`` are the entity's now: after the change when it was applied, as
    locked otherwise (None when it does not exist). ``row`` is the whole changed row (applied
    only); ``previous`` the status before.
    """

    id: uuid.UUID
    refusal: Refusal | None
    status: Status | None = None
    version: int | None = None
    previous: Status | None = None
    parent_id: uuid.UUID | None = None
    parent_status: str | None = None
    row: Any = None


class TransitionRefused(Exception):
    """An all-or-nothing transition found an entity it cannot change; nothing is left for the
    transaction to commit (the caller turns it into its own problem and rolls back)."""

    def __init__(self, planned: list[Planned]) -> None:
        super().__init__(f"{sum(p.refusal is not None for p in planned)} refused")
        self.planned = planned


async def transition_many(
    session: AsyncSession,
    kind: EntityKind,
    ids: Sequence[uuid.UUID],
    action: Action,
    context: ActionContext,
    *,
    reason: str | None = None,
    expected: Expected = any_version,
    atomic: bool = True,
    dry_run: bool = False,
    skip_locked: bool = False,
) -> list[Planned]:
    """:func:`_transition_many` in its span: ``close_run`` for a run's finish, fail or archive
    (the reaper's included), ``transition`` for the others."""
    name = "close_run" if kind is EntityKind.run and action in _CLOSING else "transition"
    with span(
        name, entity=kind.value, action=action.value, count=len(ids), source=context.source.value,
        reason=bounded(reason, KNOWN_REASONS), batch_id=context.batch_id,
    ):  # fmt: skip
        return await _transition_many(
            session, kind, ids, action, context, reason=reason, expected=expected,
            atomic=atomic, dry_run=dry_run, skip_locked=skip_locked,
        )  # fmt: skip


async def _transition_many(
    session: AsyncSession,
    kind: EntityKind,
    ids: Sequence[uuid.UUID],
    action: Action,
    context: ActionContext,
    *,
    reason: str | None = None,
    expected: Expected = any_version,
    atomic: bool = True,
    dry_run: bool = False,
    skip_locked: bool = False,
) -> list[Planned]:
    """Apply ``action`` to the entities of ``ids`` (distinct); each one's outcome, in order.

    Lock (parents first, then the entities, each in id order) → plan each with the action
    table → update set-based → cascades → history, audit and outbox rows (``context`` carries
    a batch id, if any). ``atomic``: any refusal raises :class:`TransitionRefused`; otherwise
    the refused are reported and the rest applied. ``dry_run`` plans and writes nothing.
    ``skip_locked`` (background callers, which must never wait behind a request): rows other
    transactions hold are left out, as if not found.

    One id, atomic, no dry run, no skipping: one statement locks, checks and updates
    (:meth:`EntityRepository.transition_one`) and one records it, plus the cascades'.
    """
    if len(ids) == 1 and atomic and not dry_run and not skip_locked:
        return [await _transition_one(session, kind, ids[0], action, context, reason, expected)]
    engine = _Batch(session, kind, action, context, reason)
    planned = await engine.lock_and_plan(ids, expected, skip_locked)
    if dry_run:
        return planned
    if atomic and any(p.refusal is not None for p in planned):
        raise TransitionRefused(planned)
    return await engine.apply(planned)


async def _transition_one(
    session: AsyncSession,
    kind: EntityKind,
    entity_id: uuid.UUID,
    action: Action,
    context: ActionContext,
    reason: str | None,
    expected: Expected,
) -> Planned:
    transition = TRANSITIONS[action]
    guard = PARENT_GUARDS.get((kind, action))
    change = TransitionChange(
        target=transition.target,
        # An action this kind does not have matches no status, and is refused by the table.
        sources=transition.sources if action in ACTIONS[kind] else frozenset(),
        versions=expected(entity_id),
        reason=reason,
        parent=guard,
        access=access_parameters(context.principal, needed_for(kind, action)),
    )
    if kind is EntityKind.run and action is Action.start:
        # Before the run's lock, the experiment's: the order every run start takes them.
        started = await ExperimentRepository(session).start_draft_of_run(
            entity_id, context.principal
        )
        await _record_experiments_started(session, context, [started] if started else [])
    outcome = await _REPOSITORIES[kind](session).transition_one(entity_id, change)
    if outcome.row is None:
        raise TransitionRefused([_refused_one(kind, action, entity_id, change, outcome)])
    assert outcome.previous_status is not None  # found: it changed
    await ChangeRecorder(session).transitioned(
        kind, action, [outcome.row], outcome.previous_status, context, reason
    )
    await _after(session, kind, action, [entity_id], context)
    return Planned(
        entity_id,
        None,
        Status(outcome.row.status),
        outcome.row.version,
        outcome.previous_status,
        outcome.parent_id,
        outcome.parent_status,
        outcome.row,
    )


def _refused_one(
    kind: EntityKind,
    action: Action,
    entity_id: uuid.UUID,
    change: TransitionChange,
    outcome: TransitionOutcome,
) -> Planned:
    status, version = outcome.previous_status, outcome.previous_version
    if status is None or version is None:
        return Planned(entity_id, Refusal.not_found)
    parent_status = None if outcome.parent_status is None else Status(outcome.parent_status)
    refusal = _refusal(kind, action, status, version, change.versions, change.parent, parent_status)
    assert refusal is not None, f"{kind} {entity_id}: transition refused for no known reason"
    return Planned(
        entity_id, refusal, status, version, status, outcome.parent_id, outcome.parent_status
    )


def _refusal(
    kind: EntityKind,
    action: Action,
    status: Status,
    version: int,
    versions: frozenset[int] | None,
    guard: ParentGuard | None,
    parent_status: Status | None,
) -> Refusal | None:
    """Why the action does not apply to an entity found (None: it does), in the order a
    client is told: the parent, the version, the table."""
    if guard is not None and parent_status not in guard.statuses:
        return Refusal.parent
    if versions is not None and version not in versions:
        return Refusal.version
    if not allows(kind, action, status):
        return Refusal.table
    return None


class _Batch:
    """:func:`transition_many` over many rows: lock and plan, then apply the allowed."""

    def __init__(
        self,
        session: AsyncSession,
        kind: EntityKind,
        action: Action,
        context: ActionContext,
        reason: str | None,
    ) -> None:
        self.session = session
        self.kind, self.action = kind, action
        self.context, self.reason = context, reason
        self.repository = _REPOSITORIES[kind](session)
        self.guard = PARENT_GUARDS.get((kind, action))
        self.current: Mapping[uuid.UUID, Row[Any]] = {}
        self.parents: Mapping[uuid.UUID, Row[Any]] = {}

    async def lock_and_plan(
        self, ids: Sequence[uuid.UUID], expected: Expected, skip_locked: bool
    ) -> list[Planned]:
        guard = self.guard
        columns = ["status", "version"]
        if guard is not None:
            columns.insert(0, guard.foreign_key)
            parent_ids = await self.repository.parent_ids(ids, guard.foreign_key)
            await self._lock_parents(parent_ids, skip_locked)
        # Rows the caller may not change are left out: reported as not found, as a single
        # action would answer (no existence leak).
        access = access_parameters(self.context.principal, needed_for(self.kind, self.action))
        self.current = await self.repository.lock_many(
            ids, columns, skip_locked=skip_locked, access=access
        )
        if guard is not None:
            # Only a row committed between the two reads could have a parent not locked yet
            # (and only if the client already knew its id): lock that one late.
            late = {getattr(row, guard.foreign_key) for row in self.current.values()}
            late -= self.parents.keys()
            if late:
                await self._lock_parents(sorted(late), skip_locked)
        return [self._plan(entity_id, expected(entity_id)) for entity_id in ids]

    async def _lock_parents(self, ids: Sequence[uuid.UUID], skip_locked: bool) -> None:
        assert self.guard is not None
        repository = _PARENT_REPOSITORIES[self.guard.table.name](self.session)
        locked = await repository.lock_many(ids, ["status"], skip_locked=skip_locked)
        self.parents = {**self.parents, **locked}

    def _plan(self, entity_id: uuid.UUID, versions: frozenset[int] | None) -> Planned:
        row = self.current.get(entity_id)
        if row is None:
            return Planned(entity_id, Refusal.not_found)
        status = Status(row.status)
        parent_id = parent_status = None
        if self.guard is not None:
            parent_id = getattr(row, self.guard.foreign_key)
            parent = self.parents.get(parent_id)
            parent_status = None if parent is None else Status(parent.status)
        refusal = _refusal(
            self.kind, self.action, status, row.version, versions, self.guard, parent_status
        )
        return Planned(entity_id, refusal, status, row.version, status, parent_id, parent_status)

    async def apply(self, planned: list[Planned]) -> list[Planned]:
        allowed = [p.id for p in planned if p.refusal is None]
        if not allowed:
            return planned
        if self.kind is EntityKind.run and self.action is Action.start:
            await self._start_draft_experiments(planned)
        target = TRANSITIONS[self.action].target
        rows = await self.repository.update_many(allowed, transition_values(target, self.reason))
        previous = [Status(self.current[row.id].status) for row in rows]
        await ChangeRecorder(self.session).transitioned(
            self.kind, self.action, rows, previous, self.context, self.reason
        )
        await _after(self.session, self.kind, self.action, allowed, self.context)
        changed = {row.id: row for row in rows}
        return [
            p
            if (row := changed.get(p.id)) is None
            else replace(p, status=Status(row.status), version=row.version, row=row)
            for p in planned
        ]

    async def _start_draft_experiments(self, planned: Sequence[Planned]) -> None:
        """A draft experiment starts with its first run (locked by :meth:`lock_and_plan`)."""
        drafts = sorted(
            {
                p.parent_id
                for p in planned
                if p.refusal is None and p.parent_id is not None and p.parent_status == Status.draft
            }
        )
        if drafts:
            started = await ExperimentRepository(self.session).update_many(
                drafts, transition_values(Status.running)
            )
            await _record_experiments_started(self.session, self.context, started)


async def _record_experiments_started(
    session: AsyncSession, context: ActionContext, started: Sequence[Row[Any]]
) -> None:
    await ChangeRecorder(session).transitioned(
        EntityKind.experiment, Action.start, started, Status.draft,
        context.as_system(), FIRST_RUN_STARTED,
    )  # fmt: skip


async def _after(
    session: AsyncSession,
    kind: EntityKind,
    action: Action,
    changed: Sequence[uuid.UUID],
    context: ActionContext,
) -> None:
    """The cascades that follow a change: a run that finished or failed stops its running
    capture sessions (source ``system``, reason ``run_finished`` / ``run_failed``)."""
    if kind is not EntityKind.run or action not in _CAPTURE_STOP_REASONS:
        return
    # Always a statement of its own: a session started just before the run's lock was granted
    # is running now, although the transition's statement (its snapshot older) could not see it.
    stopped = await CaptureRepository(session).stop_running_of_runs(changed)
    await ChangeRecorder(session).transitioned(
        EntityKind.capture, Action.stop, stopped, Status.running, context.as_system(),
        _CAPTURE_STOP_REASONS[action],
    )  # fmt: skip


@dataclass(frozen=True)
class Transitioned:
    row: Any  # the entity after the change (a named tuple of its table's columns)
    previous: Status


def transition_values(target: Status, reason: str | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"status": target.value, timestamp_column(target): func.now()}
    if target is Status.failed:
        values["failure_reason"] = reason
    return values


def check_version(kind: EntityKind, row: Row[Any], expected: ExpectedVersions) -> None:
    if not expected.accepts(row.version):
        raise PreconditionFailed(
            f"{kind} {row.id} is at version {row.version}", current_version=row.version
        )


# Called when a guarded transition did not apply: (parent id, parent status, entity status,
# entity version); raises the parent's refusal if that is the reason.
ParentCheck = Callable[[uuid.UUID | None, str | None, Status, int], None]


async def apply_transition(
    session: AsyncSession,
    kind: EntityKind,
    entity_id: uuid.UUID,
    action: Action,
    context: ActionContext,
    expected: ExpectedVersions,
    not_found: Callable[[uuid.UUID], ProblemError],
    reason: str | None = None,
    parent_check: ParentCheck | None = None,
) -> Transitioned:
    """One entity's transition through :func:`transition_many`; a refusal raised as the
    client is told it, in the order: not found, the parent's check (``parent_check``, for
    actions with a parent guard), the version, the transition table.

    Concurrent transitions of one entity serialise on the row lock: the second sees the
    first's result and is refused if it no longer applies, so history never gets two rows for
    one change.
    """
    try:
        (done,) = await transition_many(
            session, kind, [entity_id], action, context,
            reason=reason, expected=lambda _: expected.versions,
        )  # fmt: skip
    except TransitionRefused as refused:
        if refused.planned[0].status is None:  # absent, or the caller lacks the role
            await GrantService(session).refuse(
                _REPOSITORIES[kind](session), entity_id, context.principal,
                needed_for(kind, action), not_found,
            )  # fmt: skip
        _raise_refusal(kind, action, refused.planned[0], expected, not_found, parent_check)
    assert done.previous is not None
    return Transitioned(done.row, done.previous)


def _raise_refusal(
    kind: EntityKind,
    action: Action,
    refused: Planned,
    expected: ExpectedVersions,
    not_found: Callable[[uuid.UUID], ProblemError],
    parent_check: ParentCheck | None,
) -> NoReturn:
    if refused.status is None or refused.version is None:
        raise not_found(refused.id)
    if parent_check is not None:
        parent_check(refused.parent_id, refused.parent_status, refused.status, refused.version)
    if not expected.accepts(refused.version):
        raise PreconditionFailed(
            f"{kind} {refused.id} is at version {refused.version}",
            current_version=refused.version,
        )
    plan_transition(kind, action, refused.status)
    raise AssertionError(f"{kind} {refused.id}: transition refused for no known reason")


async def apply_update(
    session: AsyncSession,
    repository: EntityRepository,
    kind: EntityKind,
    entity_id: uuid.UUID,
    values: dict[str, Any],
    context: ActionContext,
    expected: ExpectedVersions,
    not_found: Callable[[uuid.UUID], ProblemError],
    editable_in: Collection[Status] | None = None,
    not_editable: Callable[[Row[Any]], ProblemError] | None = None,
) -> Row[Any]:
    """Lock (if the caller may edit it), check the version (and, with ``editable_in``, the
    status), update, record."""
    before = await repository.lock_for_change(entity_id, context.principal, Role.editor)
    if before is None:
        await GrantService(session).refuse(
            repository, entity_id, context.principal, Role.editor, not_found
        )
    check_version(kind, before, expected)
    if editable_in is not None and Status(before.status) not in editable_in:
        assert not_editable is not None
        raise not_editable(before)
    after = await repository.update(entity_id, values)
    assert after is not None  # locked above
    await ChangeRecorder(session).updated(kind, before, after, context)
    return after
