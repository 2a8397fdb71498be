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
from expsvc.lifecycle import Action, EntityKind, Status, plan_transition, timestamp_column
from expsvc.repository import EntityRepository


@dataclass(frozen=True)
class Transitioned:
    row: Row[Any]
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
) -> Transitioned:
    """Lock the entity, validate ``action`` against the transition table, apply, record history.

    Concurrent transitions of one entity serialise on the row lock: the second sees the first's
    result and is refused if it no longer applies, so history never gets two rows for one change.
    """
    row = await repository.lock(entity_id)
    if row is None:
        raise not_found(entity_id)
    check_version(kind, row, expected)
    current = Status(row.status)
    target = plan_transition(kind, action, current)
    updated = await repository.update(entity_id, transition_values(target, reason))
    assert updated is not None  # locked above
    await ChangeRecorder(session).transitioned(kind, action, [updated], current, context, reason)
    return Transitioned(updated, current)


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
