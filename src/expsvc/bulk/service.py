"""What every bulk operation shares: selecting, refusing atomically, tagging, answering.

A bulk operation resolves its selection to ids, locks those rows in id order, decides each
item's outcome with the same rules as the single-entity action, refuses the whole request in
atomic mode if any item cannot be changed, then writes every change with a few set-based
statements, each with its history row, outbox event and audit row tied by one ``batch_id``.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role, access_parameters
from expsvc.bulk.schemas import (
    DRY_RUN_SAMPLE,
    FAILURES,
    MAX_BULK_ITEMS,
    BulkCounts,
    BulkItemResult,
    BulkMode,
    BulkOutcome,
    BulkResult,
    BulkSelection,
    ExperimentBulkTags,
    RunBulkTags,
)
from expsvc.changes import ChangeRecorder
from expsvc.context import ActionContext
from expsvc.errors import Conflict, ValidationFailed
from expsvc.lifecycle import EntityKind, Status
from expsvc.repository import EntityRepository
from expsvc.schemas import MAX_TAGS

FilterT = TypeVar("FilterT")
_gc_pauses = 0


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Suspend Python's cyclic garbage collector while a bulk operation runs.

    A 10,000-item operation allocates about a million short-lived objects (rows, dicts,
    snapshots); the collector would scan them hundreds of times, the full collections taking
    about 40 % of the request. Reference counting still frees nearly all of them; whatever
    cyclic garbage remains is collected once the last concurrent bulk operation ends.
    """
    global _gc_pauses
    if _gc_pauses == 0 and not gc.isenabled():
        yield  # someone else switched it off; leave it alone
        return
    _gc_pauses += 1
    gc.disable()
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0:
            gc.enable()


class BulkConflict(Conflict):
    slug, title = "bulk-conflict", "Bulk operation refused"


class BulkSelectionTooLarge(ValidationFailed):
    slug, title = "bulk-selection-too-large", "Bulk selection too large"


async def selected_ids(
    ids: Sequence[uuid.UUID] | None,
    where: FilterT | None,
    matching: Callable[[FilterT, int], Awaitable[list[uuid.UUID]]],
    noun: str,
) -> list[uuid.UUID]:
    """The distinct ids a request selects, in id order.

    A filter is evaluated once, here; the matched entities are then treated like explicit ids.
    """
    if ids is not None:
        return sorted(set(ids))
    assert where is not None  # BulkSelection requires one of the two
    found = await matching(where, MAX_BULK_ITEMS + 1)
    if len(found) > MAX_BULK_ITEMS:
        raise BulkSelectionTooLarge(
            f"the filter selects more than {MAX_BULK_ITEMS} {noun}; narrow it (e.g. by "
            "experiment or time range) and send several requests",
            limit=MAX_BULK_ITEMS,
        )
    return found


def item(
    entity_id: uuid.UUID, outcome: BulkOutcome, row: Any = None, detail: str | None = None
) -> BulkItemResult:
    return {
        "id": entity_id,
        "outcome": outcome,
        "status": None if row is None else Status(row.status),
        "version": None if row is None else row.version,
        "detail": detail,
    }


def with_rows(items: list[BulkItemResult], changed: Sequence[Any]) -> list[BulkItemResult]:
    """``items`` with the status and version of the rows ``changed`` (the new rows)."""
    after = {row.id: row for row in changed}
    for result in items:
        if (row := after.get(result["id"])) is not None:
            result["status"], result["version"] = Status(row.status), row.version
    return items


def version_mismatch(kind: EntityKind, request: BulkSelection, row: Any) -> BulkItemResult | None:
    """precondition_failed if the request expected another version of ``row``."""
    expected = request.expected_version(row.id)
    if expected is None or expected == row.version:
        return None
    detail = f"{kind} {row.id} is at version {row.version}, not {expected}"
    return item(row.id, BulkOutcome.precondition_failed, row, detail)


def refuse_conflicts(items: Sequence[BulkItemResult], request: BulkSelection, what: str) -> None:
    """In atomic mode (not a dry run), refuse the request if any item cannot be changed."""
    if request.mode is not BulkMode.atomic or request.dry_run:
        return
    conflicts = [i for i in items if i["outcome"] in FAILURES]
    if conflicts:
        raise BulkConflict(
            f"{len(conflicts)} of {len(items)} {what}; nothing was changed",
            selected=len(items),
            counts=count(items).model_dump(),
            conflicts=[{k: v for k, v in i.items() if v is not None} for i in conflicts],
        )


def count(items: Sequence[BulkItemResult]) -> BulkCounts:
    tally: dict[str, int] = {}
    for result in items:
        tally[result["outcome"]] = tally.get(result["outcome"], 0) + 1
    return BulkCounts(**tally)


def answer(
    items: Sequence[BulkItemResult], request: BulkSelection, batch_id: uuid.UUID
) -> BulkResult:
    shown = list(items)
    if request.dry_run:
        seen: dict[BulkOutcome, int] = {}
        shown = []
        for result in items:
            seen[result["outcome"]] = seen.get(result["outcome"], 0) + 1
            if seen[result["outcome"]] <= DRY_RUN_SAMPLE:
                shown.append(result)
    # Built from values this module made: validating 10,000 items again would only cost time.
    return BulkResult.model_construct(
        batch_id=None if request.dry_run else batch_id,
        dry_run=request.dry_run,
        mode=request.mode,
        selected=len(items),
        counts=count(items),
        items=shown,
        items_truncated=len(shown) < len(items),
    )


async def change_tags(
    session: AsyncSession,
    kind: EntityKind,
    repository: EntityRepository,
    ids: Sequence[uuid.UUID],
    request: RunBulkTags | ExperimentBulkTags,
    context: ActionContext,
) -> list[BulkItemResult]:
    """Add and remove tags on the entities of ``ids``: the per-item results.

    Entities whose tag set would not change are ``unchanged``: no version bump, no event, no
    audit row. ``context`` carries the batch id.
    """
    # Entities the caller may not edit are left out: reported as not found (no existence leak).
    current = await repository.lock_many(
        ids, access=access_parameters(context.principal, Role.editor)
    )
    items: list[BulkItemResult] = []
    new_tags: dict[uuid.UUID, list[str]] = {}
    for entity_id in ids:
        row = current.get(entity_id)
        if row is None:
            items.append(item(entity_id, BulkOutcome.not_found, detail=f"no {kind} {entity_id}"))
            continue
        if refused := version_mismatch(kind, request, row):
            items.append(refused)
            continue
        tags = request.apply(list(row.tags))
        if set(tags) == set(row.tags):
            items.append(item(entity_id, BulkOutcome.unchanged, row))
        elif len(tags) > MAX_TAGS:
            detail = f"{kind} {entity_id} would have {len(tags)} tags; the limit is {MAX_TAGS}"
            items.append(item(entity_id, BulkOutcome.limit_exceeded, row, detail))
        else:
            items.append(item(entity_id, BulkOutcome.ok, row))
            new_tags[entity_id] = tags
    refuse_conflicts(items, request, f"{kind}s cannot be tagged")
    if request.dry_run or not new_tags:
        return items
    changed = await repository.set_tags(new_tags)
    await ChangeRecorder(session).updated_many(
        kind, [(current[row.id], row) for row in changed], context
    )
    return with_rows(items, changed)
