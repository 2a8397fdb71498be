from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints

from expsvc.filtering.language import (
    MAX_FILTER_LENGTH,
    Condition,
    Expression,
    all_of,
    parse,
)
from expsvc.lifecycle import Status
from expsvc.liveness.schemas import HeartbeatTimeout, MaxDuration
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import (
    Description,
    Name,
    NullableFieldsGuard,
    PageToken,
    Params,
    Participants,
    RequestModel,
    ResponseModel,
    SortDirection,
    Tag,
    Tags,
    TotalMode,
)


class ExperimentCreate(RequestModel):
    name: Name
    description: Description | None = None
    tags: Tags = Field(default_factory=list)
    params: Params = Field(default_factory=dict)
    participants: Participants = Field(default_factory=list)
    heartbeat_timeout_seconds: HeartbeatTimeout | None = None
    max_duration_seconds: MaxDuration | None = None


class ExperimentUpdate(NullableFieldsGuard):
    """Only the fields present are changed; ``null`` clears the description and the limits."""

    name: Name | None = None
    description: Description | None = None
    tags: Tags | None = None
    params: Params | None = None
    participants: Participants | None = None
    heartbeat_timeout_seconds: HeartbeatTimeout | None = None
    max_duration_seconds: MaxDuration | None = None


class ExperimentFilter(RequestModel):
    """Which experiments: every filter given narrows the selection (AND)."""

    status: list[Status] = Field(
        default_factory=list, max_length=5, description="Experiments in any of these statuses."
    )
    tag: list[Tag] = Field(
        default_factory=list, max_length=16, description="Experiments carrying all these tags."
    )
    filter: Annotated[str, StringConstraints(max_length=MAX_FILTER_LENGTH)] | None = Field(
        default=None,
        description=(
            "An expression over the experiments' fields (AIP-160 subset: AND, OR, NOT, "
            "parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND "
            'participants:"alice"`; see docs/filtering.md.'
        ),
    )

    def expression(self) -> Expression | None:
        """Every filter given as one tree (raises the filter language's 400 problems)."""
        parts: list[Expression] = []
        if self.status:
            parts.append(Condition("status", "in", tuple(s.value for s in self.status)))
        if self.tag:
            parts.append(Condition("tags", "has_all", tuple(self.tag)))
        if self.filter:
            parts.append(parse(self.filter))
        return all_of(parts)


_NOT_FILTERS = {"order_by", "order", "page_size", "page_token", "total"}


class ExperimentOrderBy(StrEnum):
    created_at = "created_at"
    started_at = "started_at"
    finished_at = "finished_at"
    name = "name"


class ExperimentQuery(ExperimentFilter):
    """Query of ``GET /v1/experiments``: the filters (each narrows the result) and the page."""

    # Unknown parameters have always been ignored here (unlike GET /v1/runs); refusing them
    # now would break clients within the compatibility window.
    model_config = ConfigDict(extra="ignore")

    order_by: ExperimentOrderBy = ExperimentOrderBy.created_at
    order: SortDirection = SortDirection.desc
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None
    total: TotalMode | None = Field(
        default=None,
        description=(
            "Also count the experiments selected: estimate (the planner's estimate, no extra "
            "scan) or exact (a count, capped by EXPSVC_LIST_TOTAL_BUDGET_MS; past it, the "
            "estimate with total_exact false)."
        ),
    )

    def filters(self) -> dict[str, Any]:
        """The filters alone (what a page token is bound to); sets in a canonical order."""
        filters = self.model_dump(mode="json", exclude=_NOT_FILTERS)
        filters["status"] = sorted(filters["status"])
        filters["tag"] = sorted(set(filters["tag"]))
        return filters


class ExperimentRead(ResponseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: Status
    tags: list[str]
    params: dict[str, Any]
    participants: list[str]
    failure_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    archived_at: datetime | None
    heartbeat_timeout_seconds: int | None
    max_duration_seconds: int | None
    version: int = Field(description="Increments on every change; the ETag is derived from it.")


class ExperimentPage(ResponseModel):
    items: list[ExperimentRead]
    next_page_token: str | None = Field(
        description="Pass as page_token for the next page; null on the last page."
    )
    total_size: int | None = Field(
        default=None,
        description="How many experiments the filters select (with total=estimate or exact); "
        "null without total.",
    )
    total_exact: bool | None = Field(
        default=None,
        description="Whether total_size is an exact count: false for total=estimate, and for "
        "total=exact when counting ran out of its time budget (the planner's estimate then).",
    )
