from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints, model_validator

from expsvc.lifecycle import Status
from expsvc.liveness.schemas import HeartbeatTimeout, MaxDuration
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import (
    Name,
    NullableFieldsGuard,
    Params,
    Participants,
    RequestModel,
    ResponseModel,
    Tag,
    Tags,
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


class RunOrderBy(StrEnum):
    created_at = "created_at"
    started_at = "started_at"
    finished_at = "finished_at"
    name = "name"


class SortDirection(StrEnum):
    asc = "asc"
    desc = "desc"


_NOT_FILTERS = {"order_by", "order", "page_size", "page_token"}


class RunFilter(RequestModel):
    """Which runs: every filter given narrows the selection (AND)."""

    experiment_id: uuid.UUID | None = None
    status: list[Status] = Field(default_factory=list, max_length=5)
    tag: list[Tag] = Field(
        default_factory=list, max_length=16, description="Runs carrying all of these tags."
    )
    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> Self:
        for field in ("created", "started", "finished"):
            low, high = getattr(self, f"{field}_after"), getattr(self, f"{field}_before")
            if low is not None and high is not None and low >= high:
                raise ValueError(f"{field}_after must be earlier than {field}_before")
        return self


class RunQuery(RunFilter):
    """Query of ``GET /v1/runs``: filters (each narrows the result), order and page."""

    order_by: RunOrderBy = RunOrderBy.created_at
    order: SortDirection = SortDirection.desc
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: Annotated[str, StringConstraints(max_length=2048)] | None = None

    def filters(self) -> dict[str, Any]:
        """The filters alone (what a page token is bound to)."""
        return self.model_dump(mode="json", exclude=_NOT_FILTERS)
