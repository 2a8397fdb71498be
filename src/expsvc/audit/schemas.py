from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from expsvc.lifecycle import Source
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import PageToken, PrincipalId, RequestModel, ResponseModel, Timestamp


class AuditedEntity(StrEnum):
    """What an audit row can be about: experiments, runs and capture sessions (the lifecycle's
    entities), webhooks and API tokens. Rows of webhooks and API tokens belong to no experiment:
    only admins read them."""

    experiment = "experiment"
    run = "run"
    capture = "capture"
    webhook = "webhook"
    api_token = "api_token"  # noqa: S105 (an entity type, not a secret)


class AuditEntryRead(ResponseModel):
    id: int
    occurred_at: datetime
    actor: str
    source: Source
    action: str = Field(examples=["create", "update", "delete", "finish"])
    entity_type: str = Field(
        description="experiment, run, capture, webhook or api_token (see the entity_type filter)."
    )
    entity_id: uuid.UUID
    changes: dict[str, Any] = Field(
        description='Per field: {"before": ..., "after": ...} (null where absent).'
    )
    request_id: str | None = Field(
        description="The client's X-Request-ID if it sent a well-formed one, else ours."
    )
    server_request_id: str | None = Field(
        description="The id this service gave the request (never the client's); null on "
        "rows of background jobs and rows older than this field."
    )
    idempotency_key: str | None
    batch_id: uuid.UUID | None
    client_address: str | None


class AuditPage(ResponseModel):
    items: list[AuditEntryRead] = Field(description="Newest first.")
    next_page_token: str | None


class AuditQuery(RequestModel):
    """Filters of ``GET /v1/audit`` (each narrows the result), and the page."""

    actor: PrincipalId | None = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None
    entity_type: AuditedEntity | None = None
    entity_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    occurred_after: Timestamp | None = None
    occurred_before: Timestamp | None = None
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None

    def filters(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"page_size", "page_token"})

    @model_validator(mode="after")
    def _range_is_ordered(self) -> AuditQuery:
        low, high = self.occurred_after, self.occurred_before
        if low is not None and high is not None and low >= high:
            raise ValueError("occurred_after must be earlier than occurred_before")
        return self
