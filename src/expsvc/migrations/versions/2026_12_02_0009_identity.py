"""identity: the server's own request id on audit rows; API tokens

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Expand-only, safe with the previous release live:

* ``audit_log.server_request_id``: a nullable column without a default, a catalogue-only change
  (no rewrite, no scan). The previous release's writes leave it NULL. The brief ACCESS
  EXCLUSIVE lock gives up after 5 s rather than queue every write behind a long transaction
  (re-run the upgrade).
* ``api_tokens``: a new table; nothing of the previous release reads or writes it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, default: str | None = None) -> sa.Column[object]:
    return sa.Column(
        name,
        postgresql.TIMESTAMP(timezone=True),
        server_default=sa.text(default) if default else None,
        nullable=default is None,
    )


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS server_request_id varchar(128)")
    # if_not_exists: a re-run of an interrupted upgrade (0007's index build may leave the
    # revision behind) finds the table and its indexes already there.
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("hint", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=False),
        sa.Column(
            "groups", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        _timestamp("created_at", "now()"),
        _timestamp("expires_at"),
        _timestamp("last_used_at"),
        _timestamp("revoked_at"),
        sa.Column("revoked_by", sa.String(length=256), nullable=True),
        sa.CheckConstraint(
            "octet_length(token_hash) = 32", name=op.f("ck_api_tokens_token_hash_is_sha256")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        if_not_exists=True,
    )
    op.create_index(
        "ux_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True, if_not_exists=True
    )
    op.create_index(
        "ix_api_tokens_created_at_id", "api_tokens", ["created_at", "id"], if_not_exists=True
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_table("api_tokens")
    op.execute("ALTER TABLE audit_log DROP COLUMN IF EXISTS server_request_id")
