"""Bulk operations: what a request selects and does, and what it answers (docs/lifecycle.md)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, model_validator
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from expsvc.experiment.schemas import ExperimentFilter
from expsvc.lifecycle import ACTIONS, REASON_REQUIRED, Action, EntityKind, Status
from expsvc.run.schemas import RunFilter
from expsvc.schemas import MAX_TAGS, Reason, RequestModel, ResponseModel, Tag

MAX_BULK_ITEMS = 10_000
# A dry run answers with at most this many items of each outcome.
DRY_RUN_SAMPLE = 100


class BulkMode(StrEnum):
    atomic = "atomic"
    partial = "partial"


class BulkOutcome(StrEnum):
    ok = "ok"
    unchanged = "unchanged"
    not_found = "not_found"
    precondition_failed = "precondition_failed"
    invalid_transition = "invalid_transition"
    experiment_closed = "experiment_closed"
    limit_exceeded = "limit_exceeded"


# Outcomes that refuse an atomic request; ``ok`` and ``unchanged`` do not.
FAILURES = frozenset(BulkOutcome) - {BulkOutcome.ok, BulkOutcome.unchanged}

Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
_RUN_FILTER = f"The runs GET /v1/runs would list with these filters (at most {MAX_BULK_ITEMS})."


# What the validators below require, declared (JSON Schema cannot say that expected_versions'
# keys are among ids, nor that no tag is both added and removed). A null is an omitted field,
# as it was in 0.1.0: "given" below means present and not null.
_IDS = {"required": ["ids"], "properties": {"ids": {"type": "array"}}}
_FILTER = {"required": ["filter"], "properties": {"filter": {"type": "object"}}}
_ONE_SELECTION: dict[str, Any] = {
    "oneOf": [_IDS, _FILTER],
    "if": {
        "required": ["expected_versions"],
        "properties": {"expected_versions": {"type": "object", "minProperties": 1}},
    },
    "then": _IDS,
}
_SOME_TAGS: dict[str, Any] = {
    "anyOf": [
        {"required": ["add"], "properties": {"add": {"minItems": 1}}},
        {"required": ["remove"], "properties": {"remove": {"minItems": 1}}},
    ]
}
_FAIL_HAS_REASON: dict[str, Any] = {
    "if": {"required": ["action"], "properties": {"action": {"const": "fail"}}},
    "then": {"required": ["reason"], "properties": {"reason": {"type": "string"}}},
}


class BulkSelection(RequestModel):
    """Either ``ids`` or ``filter`` (declared by each operation), and how to apply the change.

    ``null`` for ``ids``, ``filter``, ``expected_versions`` or ``reason`` is the field omitted
    (as 0.1.0 read it)."""

    ids: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BULK_ITEMS,
        description=(
            f"The entities to change, at most {MAX_BULK_ITEMS}; duplicates count once. "
            "Give either ids or filter."
        ),
    )
    expected_versions: dict[uuid.UUID, Version] | None = Field(
        default=None,
        max_length=MAX_BULK_ITEMS,
        description=(
            "If-Match per entity: id → the version you read. An entity at another version is "
            "precondition_failed. Only with ids; every key must be one of them."
        ),
    )
    mode: BulkMode = Field(
        default=BulkMode.atomic,
        description=(
            "atomic: all or nothing (409 bulk-conflict listing the items that cannot be "
            "changed); partial: change what can be changed and report every item."
        ),
    )
    dry_run: bool = Field(
        default=False,
        description="Report the outcomes (counts and a sample of items) without changing anything.",
    )

    @model_validator(mode="after")
    def _one_selection(self) -> Self:
        selection_filter = getattr(self, "filter", None)
        if (self.ids is None) == (selection_filter is None):
            raise ValueError("give either ids or filter")
        if self.expected_versions:
            if self.ids is None:
                raise ValueError("expected_versions needs ids")
            unknown = set(self.expected_versions) - set(self.ids)
            if unknown:
                raise ValueError(f"expected_versions names ids not in ids: {sorted(unknown)[0]}")
        return self

    def expected_version(self, entity_id: uuid.UUID) -> int | None:
        return None if self.expected_versions is None else self.expected_versions.get(entity_id)


# A run's lifecycle actions, from the one action table.
RunBulkAction = StrEnum(  # type: ignore[misc]
    "RunBulkAction", [(action.value, action.value) for action in ACTIONS[EntityKind.run]]
)


class RunBulkTransition(BulkSelection):
    """``POST /v1/runs/bulk/transition``: one lifecycle action on many runs."""

    model_config = ConfigDict(json_schema_extra={"allOf": [_ONE_SELECTION, _FAIL_HAS_REASON]})

    action: RunBulkAction
    reason: Reason | None = Field(
        default=None,
        description="Recorded in every status-history row; required for fail (failure_reason).",
    )
    filter: RunFilter | None = Field(
        default=None,
        description=_RUN_FILTER,
    )

    @model_validator(mode="after")
    def _fail_has_reason(self) -> Self:
        if Action(self.action) in REASON_REQUIRED and self.reason is None:
            raise ValueError("fail needs a reason")
        return self


class TagChange(RequestModel):
    add: list[Tag] = Field(
        default_factory=list, max_length=MAX_TAGS, description="Tags to add (present ones stay)."
    )
    remove: list[Tag] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Tags to remove (absent ones are ignored).",
    )

    @model_validator(mode="after")
    def _something_to_do(self) -> Self:
        if not self.add and not self.remove:
            raise ValueError("give tags to add or to remove")
        if both := set(self.add) & set(self.remove):
            raise ValueError(f"tag {sorted(both)[0]!r} is both added and removed")
        return self

    def apply(self, tags: list[str]) -> list[str]:
        """``tags`` with this change applied: a sorted set."""
        return sorted((set(tags) | set(self.add)) - set(self.remove))


class RunBulkTags(TagChange, BulkSelection):
    """``POST /v1/runs/bulk/tags``: add and/or remove tags on many runs."""

    model_config = ConfigDict(json_schema_extra={"allOf": [_ONE_SELECTION, _SOME_TAGS]})

    filter: RunFilter | None = Field(
        default=None,
        description=_RUN_FILTER,
    )


class ExperimentBulkTags(TagChange, BulkSelection):
    """``POST /v1/experiments/bulk/tags``: add and/or remove tags on many experiments."""

    model_config = ConfigDict(json_schema_extra={"allOf": [_ONE_SELECTION, _SOME_TAGS]})

    filter: ExperimentFilter | None = Field(
        default=None,
        description=(
            "The experiments GET /v1/experiments would list with these filters "
            f"(at most {MAX_BULK_ITEMS})."
        ),
    )


# A TypedDict, not a model: a 10,000-item answer builds and serialises these in a fraction of
# the time models take.
class BulkItemResult(TypedDict):
    """The outcome for one selected entity."""

    id: uuid.UUID
    outcome: BulkOutcome
    status: Annotated[
        Status | None,
        Field(
            description="After the change when ok; otherwise (and in a dry run) the current "
            "status; null when not found."
        ),
    ]
    version: Annotated[
        int | None,
        Field(
            description="The entity's version after the change when ok (its ETag); otherwise "
            "the current one; null when not found."
        ),
    ]
    detail: Annotated[str | None, Field(description="Why the item was not changed.")]


class BulkCounts(ResponseModel):
    """How many selected items had each outcome."""

    ok: int = 0
    unchanged: int = 0
    not_found: int = 0
    precondition_failed: int = 0
    invalid_transition: int = 0
    experiment_closed: int = 0
    limit_exceeded: int = 0


class BulkResult(ResponseModel):
    batch_id: uuid.UUID | None = Field(
        description="Ties every history row, event and audit row of this operation "
        "(GET /v1/audit?batch_id=...); null for a dry run."
    )
    dry_run: bool
    mode: BulkMode
    selected: int = Field(description="Distinct entities selected by ids or filter.")
    counts: BulkCounts
    items: list[BulkItemResult] = Field(
        description="Per item, in id order: every item, or in a dry run a sample of at most "
        f"{DRY_RUN_SAMPLE} items per outcome."
    )
    items_truncated: bool = Field(description="Whether items leaves some out (dry runs only).")
