from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope (structured JSON mode); see docs/events.md."""

    model_config = ConfigDict(extra="allow")

    specversion: str = Field(examples=["1.0"])
    id: str = Field(description="Unique per event; the same on every redelivery (dedupe key).")
    source: str
    type: str = Field(examples=["run.started"])
    subject: str = Field(examples=["runs/0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091"])
    time: str
    datacontenttype: str
    schemaversion: str = Field(
        description="Version of the data schema; an incompatible change makes a new one, "
        "published beside the old for two releases (docs/events.md)."
    )
    dataschema: str = Field(
        description="The data schema's URN, urn:expsvc:events:<type>:<schemaversion>.",
        examples=["urn:expsvc:events:run.started:1"],
    )
    sequence: str = Field(description="Position in the service's event log; the feed cursor.")
    traceparent: str | None = None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[CloudEvent]
    next_cursor: str = Field(
        description="Pass as `after` to continue. It is past every event the request examined, "
        "matched by the filters or not (a page may be empty with a cursor that moved on); it "
        "equals the request's cursor only when nothing new was logged."
    )


@dataclass(frozen=True)
class FeedFilter:
    """What a feed reader wants (empty: everything it may read)."""

    types: Sequence[str] = ()
    experiment_ids: Sequence[uuid.UUID] = ()
