"""Everything a change leaves behind, written in the change's own transaction.

Every create, update, delete and transition goes through :class:`ChangeRecorder`, which writes
its audit row, its outbox event and, for transitions, its status-history row, all with one
statement. Services call it right after the domain write; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.audit.service import Changes, audit_rows
from expsvc.change_log import ChangeLogRepository
from expsvc.context import ActionContext
from expsvc.event.catalogue import created_event, deleted_event, transition_event, updated_event
from expsvc.event.recorder import entity_snapshot, entity_snapshots, event_rows
from expsvc.history.service import history_rows
from expsvc.lifecycle import Action, EntityKind, Status


def field_changes(
    before: dict[str, Any] | None, after: dict[str, Any] | None, fields: Sequence[str]
) -> Changes:
    """``{field: {"before": b, "after": a}}`` for the fields whose value differs."""
    changes: Changes = {}
    for field in fields:
        old = None if before is None else before.get(field)
        new = None if after is None else after.get(field)
        if old != new:
            changes[field] = {"before": old, "after": new}
    return changes


class ChangeRecorder:
    """Writes each change's history, audit and outbox rows with one statement."""

    def __init__(self, session: AsyncSession) -> None:
        self.change_log = ChangeLogRepository(session)

    async def created(self, kind: EntityKind, rows: Sequence[Any], context: ActionContext) -> None:
        await self.change_log.write(
            audit=audit_rows(
                "create", kind, [(row.id, _all_fields(None, row)) for row in rows], context
            ),
            events=event_rows(created_event(kind), kind, rows, context, [{}] * len(rows)),
        )

    async def updated(
        self, kind: EntityKind, before: Row[Any], after: Row[Any], context: ActionContext
    ) -> list[str]:
        """Record an update; the names of the fields that really changed."""
        return (await self.updated_many(kind, [(before, after)], context))[0]

    async def updated_many(
        self,
        kind: EntityKind,
        changed: Sequence[tuple[Row[Any], Row[Any]]],
        context: ActionContext,
    ) -> list[list[str]]:
        """Record updates, given as (before, after) rows; per update, the fields that changed."""
        befores = entity_snapshots([before for before, _ in changed])
        afters = [after for _, after in changed]
        diffs = [
            field_changes(old, new, [f for f in new if f not in _BOOKKEEPING])
            for old, new in zip(befores, entity_snapshots(afters), strict=True)
        ]
        await self.change_log.write(
            audit=audit_rows(
                "update", kind, [(a.id, d) for a, d in zip(afters, diffs, strict=True)], context
            ),
            events=event_rows(
                updated_event(kind),
                kind,
                afters,
                context,
                [{"changed_fields": sorted(diff)} for diff in diffs],
            ),
        )
        return [sorted(diff) for diff in diffs]

    async def deleted(
        self, kind: EntityKind, rows: Sequence[Row[Any]], context: ActionContext
    ) -> None:
        await self.change_log.write(
            audit=audit_rows(
                "delete", kind, [(row.id, _all_fields(row, None)) for row in rows], context
            ),
            events=event_rows(deleted_event(kind), kind, rows, context, [{}] * len(rows)),
        )

    async def transitioned(
        self,
        kind: EntityKind,
        action: Action,
        rows: Sequence[Row[Any]],
        previous: Status | Sequence[Status],
        context: ActionContext,
        reason: str | None = None,
    ) -> None:
        """Transitions of ``rows`` (already updated) from ``previous`` (one, or one per row)."""
        if not rows:
            return
        froms = [previous] * len(rows) if isinstance(previous, Status) else list(previous)
        target = Status(rows[0].status)
        await self.change_log.write(
            history=history_rows(kind, [r.id for r in rows], froms, target, context, reason),
            audit=audit_rows(
                action.value,
                kind,
                [
                    (row.id, _transition_changes(old, row, reason))
                    for row, old in zip(rows, froms, strict=True)
                ],
                context,
            ),
            events=event_rows(
                transition_event(kind, action),
                kind,
                rows,
                context,
                [{"previous_status": f, "reason": reason} for f in froms],
            ),
        )


_BOOKKEEPING = frozenset({"version", "updated_at"})


def _all_fields(before: Any, after: Any) -> Changes:
    """Every field of the entity (a Row or a named tuple of its columns), before and after."""
    old = None if before is None else entity_snapshot(before)
    new = None if after is None else entity_snapshot(after)
    fields = [f for f in (new or old or {}) if f not in _BOOKKEEPING]
    return field_changes(old, new, fields)


def _transition_changes(previous: Status, row: Row[Any], reason: str | None) -> Changes:
    changes: Changes = {"status": {"before": previous.value, "after": row.status}}
    if reason is not None:
        changes["reason"] = {"before": None, "after": reason}
    return changes
