from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base

ARTIFACT_STATUSES = ("pending", "approved", "rejected")


class RunArtifact(Base):
    """An artifact of a run as the Artifact Service reports it; at most one per run is the
    run's approved model. ``reported_at`` is the time of the last event applied to the row:
    an older event arriving late is not applied over a newer one."""

    __tablename__ = "run_artifacts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("runs.id", ondelete="RESTRICT")
    )
    artifact_id: Mapped[str] = mapped_column(String(255))
    uri: Mapped[str] = mapped_column(String(2048))
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    status_reason: Mapped[str | None] = mapped_column(Text)
    approved_model: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    model_ref: Mapped[str | None] = mapped_column(String(512))
    reported_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in ARTIFACT_STATUSES) + ")", name="status"
        ),
        UniqueConstraint("run_id", "artifact_id"),
        Index("ix_run_artifacts_run_id_created_at_id", "run_id", "created_at", "id"),
        # One approved model per run.
        Index(
            "uq_run_artifacts_approved_model",
            "run_id",
            unique=True,
            postgresql_where=text("approved_model"),
        ),
    )


run_artifacts = cast(Table, RunArtifact.__table__)
