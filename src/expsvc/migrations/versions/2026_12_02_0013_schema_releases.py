"""schema_releases: which release migrated the database to a revision, and the oldest release
whose code still runs on it

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02

Older code cannot know a revision written after it; after every upgrade to a head the migration
environment (migrations/env.py) records that head here with the release that migrated it and the
oldest release whose code runs on it (src/expsvc/release/releases.toml), and readiness reads it
when the database is ahead of the code (docs/adr/0017).

Expand-only, safe with the previous release live: a new table that nothing of the previous
release reads or writes. The downgrade drops it (and the records with it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.create_table(
        "schema_releases",
        sa.Column("revision", sa.String(length=32), nullable=False),
        sa.Column("release", sa.String(length=64), nullable=False),
        sa.Column("oldest_compatible_release", sa.String(length=64), nullable=False),
        sa.Column(
            "applied_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_schema_releases")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.drop_table("schema_releases")
