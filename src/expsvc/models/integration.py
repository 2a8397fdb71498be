from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, String, Table, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base

INTEGRATION_SOURCES = ("telemetry-ingest", "artifact-service")
INBOX_OUTCOMES = ("applied", "orphaned", "rejected")


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class InboxEvent(Base):
    """An inbound event from a neighbour, kept so a redelivery is recognised and not applied
    twice. The row is inserted (claimed) before the event is applied, in the same transaction;
    ``outcome`` is set once it has been."""

    __tablename__ = "integration_inbox"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()")
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        CheckConstraint(f"source IN {_in(INTEGRATION_SOURCES)}", name="source"),
        CheckConstraint(f"outcome IN {_in(INBOX_OUTCOMES)}", name="outcome"),
        Index("ix_integration_inbox_received_at", "received_at"),
    )


class OrphanTelemetry(Base):
    """Telemetry for a ``capture_session_id`` no capture session has: one row per id, counting
    the events (each is also in the inbox, outcome ``orphaned``), kept and reported."""

    __tablename__ = "orphan_telemetry"

    capture_session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()")
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()")
    )
    events: Mapped[int] = mapped_column(BigInteger, server_default="0")
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    last_event_id: Mapped[str] = mapped_column(String(255))
    last_payload: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_orphan_telemetry_last_seen_at", "last_seen_at"),)


class ReconciliationReport(Base):
    """What one pass of the capture reconciliation found and did (the last few are kept)."""

    __tablename__ = "capture_reconciliation_reports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True))
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)


integration_inbox = cast(Table, InboxEvent.__table__)
orphan_telemetry = cast(Table, OrphanTelemetry.__table__)
capture_reconciliation_reports = cast(Table, ReconciliationReport.__table__)
