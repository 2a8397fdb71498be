"""What Telemetry Ingest sends us (docs/integrations.md) and what we answer."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, Field

from expsvc.auth.principal import TELEMETRY_INGEST
from expsvc.capture.schemas import CaptureSessionId
from expsvc.integration.schemas import MAX_BATCH_EVENTS, InboundModel
from expsvc.schemas import Reason, SensorId

SOURCE = TELEMETRY_INGEST  # reserved: no caller can act under it (auth.principal)


class TelemetryEventType(StrEnum):
    capture_started = "capture.started"
    capture_stopped = "capture.stopped"
    sensor_linked = "sensor.linked"
    telemetry_heartbeat = "telemetry.heartbeat"


class CaptureEventData(InboundModel):
    capture_session_id: CaptureSessionId


class CaptureTransitionData(CaptureEventData):
    reason: Reason | None = Field(default=None, description="Recorded in the status history.")


class SensorLinkedData(CaptureEventData):
    sensor_id: SensorId


class HeartbeatData(CaptureEventData):
    last_data_at: AwareDatetime | None = Field(
        default=None,
        description="When Ingest last received data of the session (default: the event time).",
    )


DATA_MODELS: dict[TelemetryEventType, type[CaptureEventData]] = {
    TelemetryEventType.capture_started: CaptureTransitionData,
    TelemetryEventType.capture_stopped: CaptureTransitionData,
    TelemetryEventType.sensor_linked: SensorLinkedData,
    TelemetryEventType.telemetry_heartbeat: HeartbeatData,
}


def batch_schema(event_types: list[str], data_description: str) -> dict[str, Any]:
    """The OpenAPI schema of a signed batch (documented in full in docs/integrations.md)."""
    event = {
        "type": "object",
        "required": ["id", "type", "timestamp", "data"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 255},
            "type": {"type": "string", "enum": event_types},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"type": "object", "description": data_description},
        },
    }
    return {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": event, "maxItems": MAX_BATCH_EVENTS},
        },
        "description": "Also accepted: the bare JSON array of events.",
    }


TELEMETRY_BATCH_SCHEMA = batch_schema(
    [t.value for t in TelemetryEventType],
    "capture.started / capture.stopped: capture_session_id, reason?; sensor.linked: "
    "capture_session_id, sensor_id; telemetry.heartbeat: capture_session_id, last_data_at?",
)
