from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import CheckConstraint, Index, LargeBinary, String, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class ApiToken(Base):
    """A bearer token of a service account or a CLI user. Only the SHA-256 of the token is
    kept (the token itself is shown once, at creation); ``hint`` is its first characters, to
    tell tokens apart in lists."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    hint: Mapped[str] = mapped_column(String(32))
    principal: Mapped[str] = mapped_column(String(256))
    groups: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("now()")
    )
    expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (
        CheckConstraint("octet_length(token_hash) = 32", name="token_hash_is_sha256"),
        Index("ux_api_tokens_token_hash", "token_hash", unique=True),
        Index("ix_api_tokens_created_at_id", "created_at", "id"),
    )


api_tokens = cast(Table, ApiToken.__table__)
