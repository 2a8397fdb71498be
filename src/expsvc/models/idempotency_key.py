from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Index, Integer, LargeBinary, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class IdempotencyKey(Base):
    """A completed idempotent request: what to replay when the same key comes again."""

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(256), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    response_body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)


idempotency_keys = cast(Table, IdempotencyKey.__table__)
