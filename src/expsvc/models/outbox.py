from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base


class OutboxEvent(Base):
    """An event, written in the transaction of the change it describes.

    ``id`` is allocated at insert, so ids of concurrent transactions commit out of order. The
    sequencer gives each committed event a ``seq`` in the order it became visible; consumers
    read by ``seq``, which never has an invisible hole behind a cursor.
    """

    __tablename__ = "outbox_events"

    # Partitioned by month of created_at (migration 0019, docs/adr/0020): the key is part of the
    # primary key, and ids come from a sequence (a partition cannot have an identity column).
    id: Mapped[int] = mapped_column(
        BigInteger, server_default=text("nextval('outbox_events_id_seq')"), primary_key=True
    )
    seq: Mapped[int | None] = mapped_column(BigInteger)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    type: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    occurred_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    traceparent: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()"), primary_key=True
    )
    sequenced_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        # Not unique: a unique index of a partitioned table must hold created_at. The sequencer
        # (nextval under its advisory lock) makes seq unique, uuid4 makes event_id unique.
        Index("ix_outbox_events_seq", "seq"),
        Index("ix_outbox_events_event_id", "event_id"),
        Index("ix_outbox_events_unsequenced", "id", postgresql_where=text("seq IS NULL")),
        # The feed's type filter: the next events of each wanted type after a cursor, without
        # reading the others (sequenced events only: an insert adds no entry, its sequencing does).
        Index("ix_outbox_events_type_seq", "type", "seq", postgresql_where=text("seq IS NOT NULL")),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )


class EventSinkCursor(Base):
    """How far one sink has published; each sink moves on its own."""

    __tablename__ = "event_sink_cursors"

    sink: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")
    published: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("now()")
    )


outbox_events = cast(Table, OutboxEvent.__table__)
event_sink_cursors = cast(Table, EventSinkCursor.__table__)
