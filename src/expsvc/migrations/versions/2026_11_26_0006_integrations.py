"""integration inbox, orphan telemetry, run artifacts, capture reconciliation reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, default: str | None = None, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        postgresql.TIMESTAMP(timezone=True),
        server_default=sa.text(default) if default else None,
        nullable=nullable and default is None,
    )


def upgrade() -> None:
    # New tables only (safe expand): nothing reads or writes them before this release, so plain
    # CREATE INDEX takes no lock anything live waits on. Sensor links need no table: they are
    # capture_sessions.sensors (docs/adr/0009-integration-inbox-and-reconciliation.md).
    op.create_table(
        "integration_inbox",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=128), nullable=True),
        _timestamp("received_at", "clock_timestamp()"),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.CheckConstraint(
            "source IN ('telemetry-ingest', 'artifact-service')",
            name=op.f("ck_integration_inbox_source"),
        ),
        sa.CheckConstraint(
            "outcome IN ('applied', 'orphaned', 'rejected')",
            name=op.f("ck_integration_inbox_outcome"),
        ),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_integration_inbox")),
    )
    op.create_index("ix_integration_inbox_received_at", "integration_inbox", ["received_at"])
    op.create_table(
        "orphan_telemetry",
        sa.Column("capture_session_id", sa.String(length=128), nullable=False),
        _timestamp("first_seen_at", "clock_timestamp()"),
        _timestamp("last_seen_at", "clock_timestamp()"),
        sa.Column("events", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "event_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("last_event_id", sa.String(length=255), nullable=False),
        sa.Column("last_payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("capture_session_id", name=op.f("pk_orphan_telemetry")),
    )
    op.create_index("ix_orphan_telemetry_last_seen_at", "orphan_telemetry", ["last_seen_at"])
    op.create_table(
        "run_artifacts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("artifact_id", sa.String(length=255), nullable=False),
        sa.Column("uri", sa.String(length=2048), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("approved_model", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("model_ref", sa.String(length=512), nullable=True),
        _timestamp("reported_at", nullable=False),
        _timestamp("created_at", "now()"),
        _timestamp("updated_at", "now()"),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_run_artifacts_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_artifacts_run_id_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_artifacts")),
        sa.UniqueConstraint(
            "run_id", "artifact_id", name=op.f("uq_run_artifacts_run_id_artifact_id")
        ),
    )
    op.create_index(
        "ix_run_artifacts_run_id_created_at_id", "run_artifacts", ["run_id", "created_at", "id"]
    )
    op.create_index(
        "uq_run_artifacts_approved_model",
        "run_artifacts",
        ["run_id"],
        unique=True,
        postgresql_where=sa.text("approved_model"),
    )
    op.create_table(
        "capture_reconciliation_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _timestamp("started_at", nullable=False),
        _timestamp("finished_at", nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_reconciliation_reports")),
    )


def downgrade() -> None:
    op.drop_table("capture_reconciliation_reports")
    op.drop_table("run_artifacts")
    op.drop_table("orphan_telemetry")
    op.drop_table("integration_inbox")
