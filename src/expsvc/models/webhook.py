from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from expsvc.models.base import Base

DELIVERY_STATUSES = ("pending", "delivering", "succeeded", "failed", "abandoned")
# Rows the delivery worker still has to act on; its claim index covers exactly these.
IN_FLIGHT = "status IN ('pending', 'delivering')"


class WebhookEndpoint(Base):
    """A receiver of our events over HTTP (Standard Webhooks).

    ``secret`` signs every request; after a rotation ``previous_secret`` signs too until
    ``previous_secret_expires_at``. Both are stored encrypted (``enc:v1:`` + a Fernet token,
    docs/adr/0011), or in clear when written before that (read as they are). ``failing_since``
    is the start of the current run of failed attempts (NULL after a success); too long a run
    disables the endpoint.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    # Only events of these experiments (their own, their runs' and captures'); empty: all.
    experiment_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'")
    )
    description: Mapped[str] = mapped_column(Text, server_default="")
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    secret: Mapped[str] = mapped_column(String(256))
    previous_secret: Mapped[str | None] = mapped_column(String(256))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    failing_since: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    created_by: Mapped[str] = mapped_column(String(256))
    # The owner's groups when it last created or changed the webhook: its grants to them count
    # for deliveries (a principal's groups are known only while it makes a request; ADR 0026).
    owner_groups: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __table_args__ = (Index("ix_webhook_endpoints_created_at_id", "created_at", "id"),)


class WebhookDelivery(Base):
    """One event for one endpoint, until it is delivered or given up.

    ``event_id`` is the CloudEvents id and the ``webhook-id`` header: the same on every attempt.
    While ``delivering``, ``next_attempt_at`` is the end of the worker's lease: a delivery whose
    worker died is due again then.
    """

    __tablename__ = "webhook_deliveries"

    # Partitioned by month of created_at (migration 0025, docs/adr/0020): the key is part of the
    # primary key, and (endpoint_id, event_id) is no longer unique (the fan-out writes once, in
    # the relay's transaction).
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Set by a manual redelivery until its attempt is recorded (the attempt log says so).
    manual: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=text("clock_timestamp()"), primary_key=True
    )
    finished_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")", name="status"
        ),
        Index("ix_webhook_deliveries_endpoint_id_event_id", "endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint_id_created_at_id", "endpoint_id", "created_at", "id"),
        Index("ix_webhook_deliveries_due", "next_attempt_at", postgresql_where=text(IN_FLIGHT)),
        Index(
            "ix_webhook_deliveries_finished_at",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
        ),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )


class WebhookDeliveryAttempt(Base):
    """One HTTP request of a delivery and what came of it (append-only)."""

    __tablename__ = "webhook_delivery_attempts"

    # Partitioned by month of started_at (migration 0025): no foreign key to the deliveries
    # (their id alone is not unique); a month of attempts goes once its deliveries' months have.
    id: Mapped[int] = mapped_column(
        BigInteger,
        server_default=text("nextval('webhook_delivery_attempts_id_seq')"),
        primary_key=True,
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    attempt: Mapped[int] = mapped_column(Integer)
    manual: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    started_at: Mapped[datetime] = mapped_column(TIMESTAMP(timezone=True), primary_key=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_webhook_delivery_attempts_delivery_id_id", "delivery_id", "id"),
        {"postgresql_partition_by": "RANGE (started_at)"},
    )


webhook_endpoints = cast(Table, WebhookEndpoint.__table__)
webhook_deliveries = cast(Table, WebhookDelivery.__table__)
webhook_delivery_attempts = cast(Table, WebhookDeliveryAttempt.__table__)
