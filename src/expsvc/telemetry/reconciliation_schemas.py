"""The report of one capture reconciliation pass (``GET /v1/captures/reconciliation``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from expsvc.schemas import ResponseModel

MAX_LISTED = 100


class CaseReport(ResponseModel):
    """Capture sessions one rule acted on."""

    count: int
    capture_ids: list[uuid.UUID] = Field(description=f"The first {MAX_LISTED}.")


class IngestCheck(StrEnum):
    ok = "ok"
    error = "error"
    disabled = "disabled"


class IngestReport(ResponseModel):
    """What pulling session states from Telemetry Ingest's status API came to."""

    status: IngestCheck = Field(
        description="disabled: EXPSVC_TELEMETRY_INGEST_URL is unset; error: see error."
    )
    error: str | None = None
    checked: int = Field(0, description="Running sessions asked about.")
    telemetry_refreshed: int = Field(
        0, description="Sessions whose last_telemetry_at moved forward from Ingest's last_data_at."
    )
    unknown_to_ingest: list[str] = Field(
        default_factory=list,
        description=f"capture_session_ids running here, unknown to Ingest (first {MAX_LISTED}).",
    )
    unknown_to_ingest_count: int = 0


class OrphanRead(ResponseModel):
    capture_session_id: str
    first_seen_at: datetime
    last_seen_at: datetime
    events: int
    event_types: list[str]
    last_event_id: str
    capture_exists: bool = Field(
        description="A capture session with this id exists now (created after the events came)."
    )


class OrphanReport(ResponseModel):
    count: int = Field(description="capture_session_ids with telemetry but no capture session.")
    events: int = Field(description="Events received for them.")
    items: list[OrphanRead] = Field(description="The most recently seen 50.")


class PurgeReport(ResponseModel):
    inbox_events: int = Field(description="Inbound event ids forgotten (past retention).")
    orphans: int = Field(description="Orphan records dropped (last seen past retention).")


class ReconciliationFindings(ResponseModel):
    stopped_run_closed: CaseReport = Field(
        description="Running sessions of finished, failed or archived runs: stopped (run_closed)."
    )
    stopped_in_ingest: CaseReport = Field(
        description="Running here, stopped in Telemetry Ingest: stopped (ingest_stopped)."
    )
    failed_telemetry_lost: CaseReport = Field(
        description=(
            "Running sessions without telemetry for EXPSVC_TELEMETRY_LOST_AFTER_SECONDS: failed "
            "(telemetry_lost)."
        )
    )
    ingest: IngestReport
    orphans: OrphanReport
    purged: PurgeReport


class ReconciliationReportRead(ReconciliationFindings):
    id: int
    started_at: datetime
    finished_at: datetime
