"""runs captures history idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a catalogue-only change, no table rewrite.
    op.add_column("experiments", sa.Column("failure_reason", sa.Text(), nullable=True))
    # New tables only: nothing reads or writes them yet, so plain CREATE INDEX takes no live lock.
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=2048), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("response_body", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "entity_type IN ('experiment', 'run', 'capture')",
            name=op.f("ck_status_history_entity_type"),
        ),
        sa.CheckConstraint(
            "source IN ('user', 'system', 'worker', 'integration')",
            name=op.f("ck_status_history_source"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_history")),
    )
    op.create_index(
        "ix_status_history_entity",
        "status_history",
        ["entity_type", "entity_id", "id"],
        unique=False,
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("experiment_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column(
            "tags", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "participants",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("git_sha", sa.String(length=64), nullable=True),
        sa.Column("git_branch", sa.String(length=256), nullable=True),
        sa.Column("git_repository", sa.String(length=1024), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("archived_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'finished', 'failed', 'archived')",
            name=op.f("ck_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_runs_experiment_id_experiments"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_created_at_id", "runs", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_runs_experiment_id_created_at_id",
        "runs",
        ["experiment_id", "created_at", "id"],
        unique=False,
    )
    op.create_index("ix_runs_finished_at_id", "runs", ["finished_at", "id"], unique=False)
    op.create_index("ix_runs_name_c_id", "runs", [sa.text('name COLLATE "C"'), "id"], unique=False)
    op.create_index("ix_runs_started_at_id", "runs", ["started_at", "id"], unique=False)
    op.create_index(
        "ix_runs_status_created_at_id", "runs", ["status", "created_at", "id"], unique=False
    )
    op.create_index("ix_runs_tags", "runs", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "capture_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("capture_session_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column(
            "sensors", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("finished_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("archived_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("last_telemetry_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'finished', 'failed', 'archived')",
            name=op.f("ck_capture_sessions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_capture_sessions_run_id_runs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capture_sessions")),
        sa.UniqueConstraint(
            "capture_session_id", name=op.f("uq_capture_sessions_capture_session_id")
        ),
    )
    op.create_index(
        "ix_capture_sessions_created_at_id", "capture_sessions", ["created_at", "id"], unique=False
    )
    op.create_index(
        "ix_capture_sessions_run_id_created_at_id",
        "capture_sessions",
        ["run_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_capture_sessions_sensors",
        "capture_sessions",
        ["sensors"],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index(
        "ix_capture_sessions_status_created_at_id",
        "capture_sessions",
        ["status", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_column("experiments", "failure_reason")
    op.drop_index("ix_capture_sessions_status_created_at_id", table_name="capture_sessions")
    op.drop_index(
        "ix_capture_sessions_sensors", table_name="capture_sessions", postgresql_using="gin"
    )
    op.drop_index("ix_capture_sessions_run_id_created_at_id", table_name="capture_sessions")
    op.drop_index("ix_capture_sessions_created_at_id", table_name="capture_sessions")
    op.drop_table("capture_sessions")
    op.drop_index("ix_runs_tags", table_name="runs", postgresql_using="gin")
    op.drop_index("ix_runs_status_created_at_id", table_name="runs")
    op.drop_index("ix_runs_started_at_id", table_name="runs")
    op.drop_index("ix_runs_name_c_id", table_name="runs")
    op.drop_index("ix_runs_finished_at_id", table_name="runs")
    op.drop_index("ix_runs_experiment_id_created_at_id", table_name="runs")
    op.drop_index("ix_runs_created_at_id", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_status_history_entity", table_name="status_history")
    op.drop_table("status_history")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
