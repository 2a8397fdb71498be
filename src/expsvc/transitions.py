"""Applying one change to one entity: lock, check, write, record.

Shared by every entity, so each update and transition writes its audit row, outbox event and
(for transitions) status-history row in the same transaction as the change.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import PreconditionFailed, ProblemError
from expsvc.lifecycle import (
    ACTIONS,
    TRANSITIONS,
    Action,
    EntityKind,
    Status,
    plan_transition,
    timestamp_column,
)
from expsvc.repository import EntityRepository, ParentGuard, TransitionChange


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
    repository: EntityRepository,
    kind: EntityKind,
    entity_id: uuid.UUID,
    action: Action,
    context: ActionContext,
    expected: ExpectedVersions,
    not_found: Callable[[uuid.UUID], ProblemError],
    reason: str | None = None,
    parent: tuple[ParentGuard, ParentCheck] | None = None,
) -> Transitioned:
    """Lock the entity, apply ``action`` if the transition table allows it, record it.

    One statement locks, checks and updates (:meth:`EntityRepository.transition_one`); only a
    refusal reads what it found to say why, in the order: not found, the parent's check
    (``parent``: a guard and what to raise when the parent's status refuses), the version,
    the transition table. Concurrent transitions of one entity serialise on the row lock: the
    second sees the first's result and is refused if it no longer applies, so history never
    gets two rows for one change.
    """
    transition = TRANSITIONS[action]
    # An action this kind does not have matches no status, and is refused by the table below.
    sources = transition.sources if action in ACTIONS[kind] else frozenset()
    change = TransitionChange(
        target=transition.target,
        sources=sources,
        versions=expected.versions,
        reason=reason,
        parent=None if parent is None else parent[0],
    )
    outcome = await repository.transition_one(entity_id, change)
    if outcome.previous_status is None or outcome.previous_version is None:
        raise not_found(entity_id)
    if outcome.row is None:
        if parent is not None:
            parent[1](
                outcome.parent_id,
                outcome.parent_status,
                outcome.previous_status,
                outcome.previous_version,
            )
        if not expected.accepts(outcome.previous_version):
            raise PreconditionFailed(
                f"{kind} {entity_id} is at version {outcome.previous_version}",
                current_version=outcome.previous_version,
            )
        plan_transition(kind, action, outcome.previous_status)
        raise AssertionError(f"{kind} {entity_id}: transition refused for no known reason")
    await ChangeRecorder(session).transitioned(
        kind, action, [outcome.row], outcome.previous_status, context, reason
    )
    return Transitioned(outcome.row, outcome.previous_status)


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
    """Lock, check the version (and, with ``editable_in``, the status), update, record."""
    before = await repository.lock(entity_id)
    if before is None:
        raise not_found(entity_id)
    check_version(kind, before, expected)
    if editable_in is not None and Status(before.status) not in editable_in:
        assert not_editable is not None
        raise not_editable(before)
    after = await repository.update(entity_id, values)
    assert after is not None  # locked above
    await ChangeRecorder(session).updated(kind, before, after, context)
    return after
