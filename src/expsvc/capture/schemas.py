from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from expsvc.lifecycle import Status
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import (
    NullableFieldsGuard,
    PageToken,
    RequestModel,
    ResponseModel,
    SensorId,
    Sensors,
)

MAX_CAPTURE_SESSION_ID_LENGTH = 128

CaptureSessionId = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=MAX_CAPTURE_SESSION_ID_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
    ),
    Field(
        description=(
            "The id Telemetry Ingest knows the session by; unique across all capture sessions."
        )
    ),
]


class CaptureCreate(RequestModel):
    """A draft capture session of the run named by the path."""

    capture_session_id: CaptureSessionId | None = Field(
        default=None,
        description="Unique; when omitted the service uses the session's own id (a UUID).",
    )
    sensors: Sensors = Field(default_factory=list)


class CaptureUpdate(NullableFieldsGuard):
    """Replace the sensors of a draft or running capture session."""

    non_nullable = ("sensors",)

    sensors: Sensors | None = None


class CaptureRead(ResponseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    capture_session_id: str
    status: Status
    sensors: list[str]
    failure_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    archived_at: datetime | None
    last_telemetry_at: datetime | None
    version: int


class CapturePage(ResponseModel):
    items: list[CaptureRead]
    next_page_token: str | None


_NOT_FILTERS = {"page_size", "page_token"}


class RunCaptureQuery(RequestModel):
    """Query of ``GET /v1/runs/{run_id}/captures``: filters (each narrows: AND) and page.

    Always newest first (created_at, then id).
    """

    status: list[Status] = Field(
        default_factory=list, max_length=5, description="Sessions in any of these statuses."
    )
    sensor: list[SensorId] = Field(
        default_factory=list, max_length=16, description="Sessions carrying all these sensors."
    )
    capture_session_id: CaptureSessionId | None = None

    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None

    def filters(self) -> dict[str, Any]:
        """The filters alone (what a page token is bound to)."""
        return self.model_dump(mode="json", exclude=_NOT_FILTERS)


class CaptureQuery(RunCaptureQuery):
    """Query of ``GET /v1/captures``: the per-run query, plus the run as a filter."""

    run_id: uuid.UUID | None = None
