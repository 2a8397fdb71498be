from __future__ import annotations

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
    schemaversion: str
    sequence: str = Field(description="Position in the service's event log; the feed cursor.")
    traceparent: str | None = None
    data: dict[str, Any]


class EventPage(BaseModel):
    items: list[CloudEvent]
    next_cursor: str = Field(
        description="Pass as `after` to continue; equals the request's cursor when nothing new."
    )
