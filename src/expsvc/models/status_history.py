from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class StatusHistory(Base):
    """Append-only: one row per lifecycle transition of any entity."""

    __tablename__ = "status_history"

    # Partitioned by month of created_at (migration 0019, docs/adr/0020): the key is part of the
    # primary key, and ids come from a sequence (a partition cannot have an identity column).
    id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('status_history_id_seq')"), primary_key=True
    )
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()"), primary_key=True
    )

    __table_args__ = (
        CheckConstraint("entity_type IN ('experiment', 'run', 'capture')", name="entity_type"),
        CheckConstraint("source IN ('user', 'system', 'worker', 'integration')", name="source"),
        Index("ix_status_history_entity", "entity_type", "entity_id", "id"),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )


status_history = cast(Table, StatusHistory.__table__)
