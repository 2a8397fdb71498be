from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base
from expsvc.models.experiment import STATUS_CHECK


class CaptureSession(Base):
    __tablename__ = "capture_sessions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("runs.id", ondelete="RESTRICT")
    )
    # The id Telemetry Ingest knows the session by; client-supplied or generated.
    capture_session_id: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    sensors: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    started_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_telemetry_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        Index("ix_capture_sessions_created_at_id", "created_at", "id"),
        Index("ix_capture_sessions_run_id_created_at_id", "run_id", "created_at", "id"),
        Index("ix_capture_sessions_status_created_at_id", "status", "created_at", "id"),
        Index("ix_capture_sessions_sensors", "sensors", postgresql_using="gin"),
    )


capture_sessions = cast(Table, CaptureSession.__table__)
