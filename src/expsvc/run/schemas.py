from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema, model_validator

from expsvc.filtering.language import (
    MAX_FILTER_LENGTH,
    Condition,
    Expression,
    Negation,
    all_of,
    parse,
)
from expsvc.filtering.typed import time_ranges, typed_params
from expsvc.lifecycle import Status
from expsvc.liveness.schemas import HeartbeatTimeout, MaxDuration
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import (
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
    Timestamp,
    TotalMode,
)

GitSha = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{7,64}$"),
    Field(description="Hex commit id, 7 to 64 lowercase characters (SHA-1 or SHA-256)."),
]
GitBranch = Annotated[str, StringConstraints(min_length=1, max_length=256)]
GitRepository = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class RunFields(RequestModel):
    name: Name
    tags: Tags = Field(default_factory=list)
    params: Params = Field(default_factory=dict)
    participants: Participants = Field(default_factory=list)
    git_sha: GitSha | None = None
    git_branch: GitBranch | None = None
    git_repository: GitRepository | None = None
    heartbeat_timeout_seconds: HeartbeatTimeout | None = None
    max_duration_seconds: MaxDuration | None = None


class RunCreate(RunFields):
    """A run inside the experiment named by the path."""


class RunCreateWithExperiment(RunFields):
    """A run, naming its experiment in the body (``POST /v1/runs``)."""

    experiment_id: uuid.UUID


class RunUpdate(NullableFieldsGuard):
    """Only the fields present are changed; ``null`` clears the git fields and the limits."""

    name: Name | None = None
    tags: Tags | None = None
    params: Params | None = None
    participants: Participants | None = None
    git_sha: GitSha | None = None
    git_branch: GitBranch | None = None
    git_repository: GitRepository | None = None
    heartbeat_timeout_seconds: HeartbeatTimeout | None = None
    max_duration_seconds: MaxDuration | None = None


class RunRead(ResponseModel):
    id: uuid.UUID
    experiment_id: uuid.UUID
    name: str
    status: Status
    tags: list[str]
    params: dict[str, Any]
    participants: list[str]
    sensors: list[str] = Field(
        description="The sensors of the run's capture sessions (read-only, sorted; kept by the "
        "database as captures are linked: the `sensor` filter reads it)."
    )
    git_sha: str | None
    git_branch: str | None
    git_repository: str | None
    failure_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    archived_at: datetime | None
    last_heartbeat_at: datetime | None
    heartbeat_timeout_seconds: int | None
    max_duration_seconds: int | None
    version: int


class RunPage(ResponseModel):
    items: list[RunRead]
    next_page_token: str | None
    total_size: int | None = Field(
        default=None,
        description="How many runs the filters select (with total=estimate or exact); null "
        "without total.",
    )
    total_exact: bool | None = Field(
        default=None,
        description="Whether total_size is an exact count: false for total=estimate, and for "
        "total=exact when counting ran out of its time budget (the planner's estimate then).",
    )


class RunOrderBy(StrEnum):
    created_at = "created_at"
    started_at = "started_at"
    finished_at = "finished_at"
    name = "name"


_NOT_FILTERS = {"order_by", "order", "page_size", "page_token", "total"}


_Word = Annotated[str, StringConstraints(min_length=1, max_length=256)]


def _one_or_many(value: Any) -> Any:
    # A single value where a list is expected (a bulk body's "experiment_id": "…", as it was).
    return [value] if isinstance(value, str | uuid.UUID) else value


class RunFilter(RequestModel):
    """Which runs: every filter given narrows the selection (AND); a filter taking several
    values matches any of them unless it says otherwise (docs/filtering.md)."""

    experiment_id: Annotated[list[uuid.UUID], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, max_length=100, description="Runs of any of these experiments."
    )
    status: list[Status] = Field(default_factory=list, max_length=5)
    tag: list[Tag] = Field(
        default_factory=list, max_length=16, description="Runs carrying all of these tags."
    )
    tag_any: list[Tag] = Field(
        default_factory=list, max_length=16, description="Runs carrying any of these tags."
    )
    tag_none: list[Tag] = Field(
        default_factory=list, max_length=16, description="Runs carrying none of these tags."
    )
    name_prefix: _Word | None = None
    name_contains: _Word | None = Field(
        default=None, description="Runs whose name contains this text, ignoring case."
    )
    # The pattern is declared, not enforced here: the filter refuses any other value itself,
    # with the invalid-filter-value problem the filter language gives (400).
    git_sha: (
        Annotated[
            str,
            StringConstraints(max_length=64),
            WithJsonSchema({"type": "string", "pattern": "^[0-9a-fA-F]{7,64}$"}),
        ]
        | None
    ) = Field(
        default=None,
        description="A full commit id or a prefix of at least 7 hex characters (else 400).",
    )
    git_branch: Annotated[list[_Word], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, max_length=16, description="Runs on any of these branches."
    )
    participant: list[_Word] = Field(
        default_factory=list, max_length=16, description="Runs with any of these participants."
    )
    sensor: list[_Word] = Field(
        default_factory=list,
        max_length=16,
        description="Runs with a capture session linked to any of these sensors.",
    )
    created_by: Annotated[list[_Word], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, max_length=16, description="Runs created by any of these."
    )
    params: list[Annotated[str, StringConstraints(min_length=1, max_length=512)]] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "Comparisons on params, all of which must hold: `key=value`, `key!=value`, "
            "`key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the key."
        ),
        examples=[["lr<0.01", "optimizer=adam", "seed"]],
    )
    filter: Annotated[str, StringConstraints(max_length=MAX_FILTER_LENGTH)] | None = Field(
        default=None,
        description=(
            "An expression over the same fields (AIP-160 subset: AND, OR, NOT, parentheses, "
            '= != < <= > >= and : for has), e.g. `status = "running" AND params.lr < 0.01`; '
            "see docs/filtering.md."
        ),
    )
    created_after: Timestamp | None = None
    created_before: Timestamp | None = None
    started_after: Timestamp | None = None
    started_before: Timestamp | None = None
    finished_after: Timestamp | None = None
    finished_before: Timestamp | None = None

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> Self:
        for field in ("created", "started", "finished"):
            low, high = getattr(self, f"{field}_after"), getattr(self, f"{field}_before")
            if low is not None and high is not None and low >= high:
                raise ValueError(f"{field}_after must be earlier than {field}_before")
        return self

    def expression(self) -> Expression | None:
        """Every filter given as one tree (raises the filter language's 400 problems)."""
        parts = [*self._typed(), *(typed_params(self.params))]
        if self.filter:
            parts.append(parse(self.filter))
        return all_of(parts)

    def _typed(self) -> list[Expression]:
        lists: dict[str, tuple[str, list[Any]]] = {
            "experiment_id": ("in", self.experiment_id),
            "status": ("in", [status.value for status in self.status]),
            "tags": ("has_all", self.tag),
            "git_branch": ("in", self.git_branch),
            "participants": ("has_any", self.participant),
            "sensors": ("has_any", self.sensor),
            "created_by": ("in", self.created_by),
        }
        parts: list[Expression] = [
            Condition(name, op, tuple(values)) for name, (op, values) in lists.items() if values
        ]
        if self.tag_any:
            parts.append(Condition("tags", "has_any", tuple(self.tag_any)))
        if self.tag_none:
            parts.append(Negation(Condition("tags", "has_any", tuple(self.tag_none))))
        for name, op, value in (
            ("name", "prefix", self.name_prefix),
            ("name", ":", self.name_contains),
            ("git_sha", "=", self.git_sha),
        ):
            if value is not None:
                parts.append(Condition(name, op, value))
        parts += time_ranges(self, ("created", "started", "finished"))
        return parts


class RunQuery(RunFilter):
    """Query of ``GET /v1/runs``: filters (each narrows the result), order and page."""

    order_by: RunOrderBy = RunOrderBy.created_at
    order: SortDirection = SortDirection.desc
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None
    total: TotalMode | None = Field(
        default=None,
        description=(
            "Also count the runs selected: estimate (the planner's estimate, no extra scan) or "
            "exact (a count, capped by EXPSVC_LIST_TOTAL_BUDGET_MS; past it, the estimate with "
            "total_exact false)."
        ),
    )

    def filters(self) -> dict[str, Any]:
        """The filters alone (what a page token is bound to)."""
        return self.model_dump(mode="json", exclude=_NOT_FILTERS)
