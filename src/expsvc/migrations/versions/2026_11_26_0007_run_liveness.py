"""run liveness: heartbeat timeout and maximum duration per experiment and run; running-runs index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("heartbeat_timeout_seconds", "max_duration_seconds")
_TABLES = ("experiments", "runs")
_INDEX = "ix_runs_running_started_at"


def upgrade() -> None:
    # Expand-safe on live tables: nullable columns without a default are a catalogue-only change
    # (no rewrite, no scan); the brief ACCESS EXCLUSIVE lock gives up after 5 s rather than queue
    # every query behind a long transaction (re-run the upgrade). IF NOT EXISTS: a re-run after a
    # failed index build (below, outside this transaction) finds the columns already there.
    op.execute("SET LOCAL lock_timeout = '5s'")
    for table in _TABLES:
        adds = ", ".join(f"ADD COLUMN IF NOT EXISTS {column} integer" for column in _COLUMNS)
        op.execute(f"ALTER TABLE {table} {adds}")
    # The reaper's scan of running runs. Keyed on started_at, never on last_heartbeat_at: a
    # heartbeat then changes no indexed column and stays a HOT update (docs/adr/0008).
    with op.get_context().autocommit_block():
        valid = op.get_bind().scalar(
            sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": _INDEX},
        )
        if valid is False:  # left INVALID by an interrupted concurrent build
            op.drop_index(_INDEX, table_name="runs", postgresql_concurrently=True)
        if not valid:
            op.create_index(
                _INDEX,
                "runs",
                ["started_at"],
                postgresql_where=sa.text("status = 'running'"),
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(_INDEX, table_name="runs", postgresql_concurrently=True, if_exists=True)
    op.execute("SET LOCAL lock_timeout = '5s'")
    for table in _TABLES:
        drops = ", ".join(f"DROP COLUMN IF EXISTS {column}" for column in _COLUMNS)
        op.execute(f"ALTER TABLE {table} {drops}")
