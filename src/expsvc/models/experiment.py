from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CheckConstraint, Index, Integer, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base

ENTITY_STATUSES = ("draft", "running", "finished", "failed", "archived")
STATUS_CHECK = "status IN (" + ", ".join(f"'{s}'" for s in ENTITY_STATUSES) + ")"


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="draft")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    participants: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
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
    # Liveness limits for the experiment's runs (None: the service-wide settings).
    heartbeat_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    max_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (
        CheckConstraint(STATUS_CHECK, name="status"),
        Index("ix_experiments_created_at_id", "created_at", "id"),
        Index("ix_experiments_status_created_at_id", "status", "created_at", "id"),
        Index("ix_experiments_tags", "tags", postgresql_using="gin"),
    )


experiments = cast(Table, Experiment.__table__)
