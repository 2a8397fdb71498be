from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Index, String, Table, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class AuditEntry(Base):
    """Append-only (a trigger refuses UPDATE, DELETE and TRUNCATE): who changed what, when."""

    __tablename__ = "audit_log"

    # Partitioned by month of occurred_at (migration 0021, docs/adr/0020): the key is part of
    # the primary key, and ids come from a sequence (a partition cannot have an identity column).
    id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('audit_log_id_seq')"), primary_key=True
    )
    occurred_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()"), primary_key=True
    )
    actor: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    client_address: Mapped[str | None] = mapped_column(String(64))
    server_request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_batch_id", "batch_id", postgresql_where=text("batch_id IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )


audit_log = cast(Table, AuditEntry.__table__)
