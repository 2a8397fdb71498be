"""The run card, and the Metrics Service's answer as we read it (docs/integrations.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from expsvc.artifact.schemas import ArtifactRead
from expsvc.capture.schemas import CaptureRead
from expsvc.run.schemas import RunRead
from expsvc.schemas import ResponseModel

MAX_METRIC_NAME_LENGTH = 256
MAX_AGGREGATES = 1000


class MetricAggregate(BaseModel):
    """One metric of the run, summarised by the Metrics Service. Fields it does not send are
    null; fields it sends that we do not know are ignored."""

    model_config = ConfigDict(extra="ignore")

    count: int | None = Field(default=None, ge=0, description="Data points recorded.")
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    last: float | None = Field(default=None, description="The latest value.")
    last_step: int | None = Field(default=None, description="Step of the latest value.")
    last_at: datetime | None = Field(default=None, description="Time of the latest value.")


MetricName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METRIC_NAME_LENGTH)]


class MetricsAnswer(BaseModel):
    """``GET {EXPSVC_METRICS_SERVICE_URL}/v1/runs/{run_id}/aggregates`` → 200 body."""

    model_config = ConfigDict(extra="ignore")

    run_id: uuid.UUID
    aggregates: dict[MetricName, MetricAggregate] = Field(max_length=MAX_AGGREGATES)
    updated_at: AwareDatetime | None = None


class RunMetrics(ResponseModel):
    aggregates: dict[str, MetricAggregate] = Field(
        description="Per metric name; empty when the Metrics Service has none for the run yet."
    )
    updated_at: datetime | None = Field(
        description="When the Metrics Service last updated them (as it says)."
    )


class CardPart(StrEnum):
    metrics = "metrics"
    captures = "captures"
    sensors = "sensors"
    artifacts = "artifacts"


class RunCard(ResponseModel):
    """A run with everything known about it, in one answer."""

    run: RunRead
    captures: list[CaptureRead] = Field(description="Capture sessions, newest first.")
    sensors: list[str] = Field(description="Every sensor of the run's capture sessions, sorted.")
    artifacts: list[ArtifactRead] = Field(
        description="Artifact links: the approved model first, then oldest first."
    )
    metrics: RunMetrics | None = Field(
        description=(
            "Aggregates from the Metrics Service; null when it is not configured or when "
            "degraded names metrics."
        )
    )
    degraded: list[CardPart] = Field(
        description=(
            "Parts that could not be fetched this time (metrics: the Metrics Service failed, "
            "was too slow, or is skipped while its circuit breaker is open). The rest of the "
            "card is complete."
        )
    )
    truncated: list[CardPart] = Field(
        description="Lists cut at their limit (see the list endpoints for everything)."
    )
