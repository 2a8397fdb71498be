"""The Artifact Service's events (docs/integrations.md) and the run's artifact links."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from expsvc.auth.principal import ARTIFACT_SERVICE
from expsvc.integration.schemas import InboundModel
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import PageToken, Reason, RequestModel, ResponseModel

SOURCE = ARTIFACT_SERVICE  # reserved: no caller can act under it (auth.principal)


class ArtifactEventType(StrEnum):
    artifact_linked = "artifact.linked"
    artifact_status_changed = "artifact.status_changed"
    model_approved = "model.approved"


class ArtifactStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


ArtifactId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"),
    Field(description="The Artifact Service's id of the artifact."),
]
ArtifactUri = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
ArtifactKind = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"),
    Field(description="e.g. model, dataset, checkpoint, report (lowercase)."),
]
ModelRef = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class ArtifactEventData(InboundModel):
    run_id: uuid.UUID
    artifact_id: ArtifactId


class ArtifactLinkedData(ArtifactEventData):
    uri: ArtifactUri
    kind: ArtifactKind
    status: ArtifactStatus = ArtifactStatus.pending
    reason: Reason | None = None


class ArtifactStatusChangedData(ArtifactEventData):
    status: ArtifactStatus
    reason: Reason | None = None


class ModelApprovedData(ArtifactEventData):
    model_ref: ModelRef | None = Field(
        default=None, description="Where the approved model is registered (e.g. a registry URI)."
    )


DATA_MODELS: dict[ArtifactEventType, type[ArtifactEventData]] = {
    ArtifactEventType.artifact_linked: ArtifactLinkedData,
    ArtifactEventType.artifact_status_changed: ArtifactStatusChangedData,
    ArtifactEventType.model_approved: ModelApprovedData,
}


class ArtifactRead(ResponseModel):
    id: uuid.UUID
    run_id: uuid.UUID
    artifact_id: str
    uri: str
    kind: str
    status: ArtifactStatus
    status_reason: str | None
    approved_model: bool = Field(description="True for the run's approved model (at most one).")
    model_ref: str | None
    reported_at: datetime = Field(description="Time of the last Artifact Service event applied.")
    created_at: datetime
    updated_at: datetime
    version: int


class ArtifactPage(ResponseModel):
    items: list[ArtifactRead]
    next_page_token: str | None


class ArtifactQuery(RequestModel):
    """Query of ``GET /v1/runs/{run_id}/artifacts``: filters (AND) and page, oldest first."""

    status: list[ArtifactStatus] = Field(default_factory=list, max_length=3)
    kind: ArtifactKind | None = None
    approved_model: bool | None = Field(
        default=None, description="true: only the run's approved model."
    )
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None

    def filters(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"page_size", "page_token"})
