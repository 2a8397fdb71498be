"""Liveness limits of runs, settable on an experiment (for its runs) and on a run."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MIN_HEARTBEAT_TIMEOUT = 10
MAX_HEARTBEAT_TIMEOUT = 7 * 24 * 3600
MIN_MAX_DURATION = 60
MAX_MAX_DURATION = 365 * 24 * 3600


def _json_integer(value: Any) -> Any:
    """A JSON integer, as the document's ``"type": "integer"`` means it: ``381.0`` is one (JSON
    Schema counts a number with a zero fraction as an integer), ``true`` and ``"381"`` are not
    (the strict validation below refuses them, and ``381.5``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


HeartbeatTimeout = Annotated[
    int,
    Field(
        strict=True,
        ge=MIN_HEARTBEAT_TIMEOUT,
        le=MAX_HEARTBEAT_TIMEOUT,
        description=(
            "Seconds without a heartbeat (or, before the first, since the start) after which a "
            "running run is failed with reason heartbeat_lost. null: inherited (run → experiment "
            "→ EXPSVC_RUN_HEARTBEAT_TIMEOUT_SECONDS)."
        ),
    ),
    BeforeValidator(_json_integer),  # after Field: its limits stay JSON Schema's
]
MaxDuration = Annotated[
    int,
    Field(
        strict=True,
        ge=MIN_MAX_DURATION,
        le=MAX_MAX_DURATION,
        description=(
            "Seconds a run may stay running before it is failed with reason "
            "max_duration_exceeded. null: inherited (run → experiment → "
            "EXPSVC_RUN_MAX_DURATION_SECONDS, unset by default: no limit)."
        ),
    ),
    BeforeValidator(_json_integer),  # after Field: its limits stay JSON Schema's
]
