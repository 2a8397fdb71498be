"""transactional outbox and per-sink cursors

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Wakes the sequencer when an event commits (NOTIFY is delivered at commit, deduplicated per
# transaction), so the relay never busy-polls.
_NOTIFY_FUNCTION = """
CREATE FUNCTION expsvc_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('expsvc_outbox', '');
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    # New tables only: plain CREATE INDEX takes no lock anything live is waiting on.
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column(
            "created_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("sequenced_at", postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index("uq_outbox_events_seq", "outbox_events", ["seq"], unique=True)
    op.create_index("uq_outbox_events_event_id", "outbox_events", ["event_id"], unique=True)
    op.create_index(
        "ix_outbox_events_unsequenced",
        "outbox_events",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
    )
    op.execute("CREATE SEQUENCE outbox_event_seq AS bigint")
    op.create_table(
        "event_sink_cursors",
        sa.Column("sink", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("published", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_event_sink_cursors")),
    )
    op.execute(_NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION expsvc_outbox_notify()"
    )


def downgrade() -> None:
    op.drop_table("event_sink_cursors")
    op.drop_table("outbox_events")
    op.execute("DROP FUNCTION IF EXISTS expsvc_outbox_notify()")
    op.execute("DROP SEQUENCE IF EXISTS outbox_event_seq")
