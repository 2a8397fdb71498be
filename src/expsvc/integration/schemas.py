"""The envelope every inbound event shares, and the per-event answer to a batch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from expsvc.schemas import ResponseModel

MAX_BATCH_EVENTS = 500
MAX_EVENT_ID_LENGTH = 255

EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_EVENT_ID_LENGTH, pattern=r"^[\x21-\x7e]+$"),
    Field(description="Unique per sender; a redelivery carries the same id."),
]


class InboundModel(BaseModel):
    """Neighbours' payloads: fields we do not know are ignored, so they can add some freely."""

    model_config = ConfigDict(extra="ignore")


class InboundEvent(InboundModel):
    """One event of a batch (Standard Webhooks payload shape, plus the id)."""

    id: EventId
    type: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    timestamp: AwareDatetime = Field(description="When it happened at the sender (RFC 3339).")
    data: dict[str, Any]


class Result(StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    orphaned = "orphaned"
    rejected = "rejected"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying one event came to (never ``duplicate``: that is decided before)."""

    result: Result
    reason: str | None = None
    detail: str | None = None

    @classmethod
    def applied(cls, detail: str | None = None) -> Outcome:
        return cls(Result.applied, None, detail)

    @classmethod
    def rejected(cls, reason: str, detail: str) -> Outcome:
        return cls(Result.rejected, reason, detail)


class EventResult(ResponseModel):
    index: int = Field(description="Position of the event in the batch (from 0).")
    id: str | None = Field(description="The event's id (null when it had no valid one).")
    type: str | None
    result: Result
    reason: str | None = Field(
        default=None,
        description=(
            "Why it was rejected, as a problem slug (docs/errors.md), e.g. run-not-running, "
            "invalid-transition, invalid-event, unknown-event-type, stale-event."
        ),
    )
    detail: str | None = None
    original_result: Result | None = Field(
        default=None, description="For a duplicate: what the first delivery came to."
    )


class BatchResult(ResponseModel):
    applied: int
    duplicate: int
    orphaned: int
    rejected: int
    results: list[EventResult] = Field(description="One per event, in the order sent.")


class EventBatch(BaseModel):
    """The request body: the events, as ``{"events": [...]}`` or a bare JSON array."""

    events: list[Any] = Field(max_length=MAX_BATCH_EVENTS)
