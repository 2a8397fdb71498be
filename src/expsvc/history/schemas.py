from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from expsvc.lifecycle import EntityKind, Source, Status
from expsvc.schemas import ResponseModel


class StatusChange(ResponseModel):
    id: int
    entity_type: EntityKind
    entity_id: uuid.UUID
    from_status: Status
    to_status: Status
    actor: str
    reason: str | None
    source: Source
    request_id: str | None
    batch_id: uuid.UUID | None = Field(description="The bulk operation this change was part of.")
    created_at: datetime


class StatusHistoryPage(ResponseModel):
    items: list[StatusChange] = Field(description="Newest first.")
    next_page_token: str | None
