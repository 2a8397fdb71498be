"""runs: indexes led by the creator, ending in each sort column but creation

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07

A creator's runs by name, start or end ("my runs, by name") had no index: the head walked every
run in the order and kept the creator's, and when the creator's runs sort far from the start
(bob has no ``xgboost`` run in ``expsvc seed``'s data, and ``xgboost`` names sort first by name
descending) the list read and sorted all 166,000 of them: 300 to 500 ms on 1,000,000 runs, the
slowest single filter of issue 12's benchmark. With these the head walks the creator's runs in
the order (ADR 0037's equality walk; creation order has ``ix_runs_created_by_created_at_id``
since 0014):

- ``ix_runs_created_by_name_c_id (created_by, name COLLATE "C", id)``,
- ``ix_runs_created_by_started_at_id (created_by, started_at, id)``,
- ``ix_runs_created_by_finished_at_id (created_by, finished_at, id)``.

Expand-only, safe with the previous release live: every index is built ``CONCURRENTLY``
outside the transaction (writes go on); an index left INVALID by an interrupted build is dropped
and rebuilt by a re-run. The previous release neither needs nor notices them, and this code walks
one only where the catalog holds it valid, so it runs on 0027 too. Each costs an index entry per
run insert, and the start and end ones an entry per start and end (docs/performance.md,
2026-12-07, session 25). The downgrade drops them (concurrently).

Offline (``--sql``) the script builds each index ``IF NOT EXISTS`` (after an interrupted build,
drop the INVALID index by hand before re-running it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> what follows ON
INDEXES = {
    "ix_runs_created_by_name_c_id": 'runs (created_by, name COLLATE "C", id)',
    "ix_runs_created_by_started_at_id": "runs (created_by, started_at, id)",
    "ix_runs_created_by_finished_at_id": "runs (created_by, finished_at, id)",
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, target in INDEXES.items():
            if context.is_offline_mode():
                op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")
                continue
            valid = op.get_bind().scalar(
                sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
                {"name": name},
            )
            if valid is False:  # left INVALID by an interrupted concurrent build
                op.execute(f"DROP INDEX CONCURRENTLY {name}")
            if not valid:
                op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {target}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
