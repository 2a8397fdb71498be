"""runs: indexes led by status and by experiment, ending in each sort column

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06

The run list's head walk (docs/filtering.md#how-a-page-is-read, ADR 0033) reads the next runs
in the page's order; these indexes let it read only runs that can match:

- ``ix_runs_status_started_at_id (status, started_at, id)``,
  ``ix_runs_status_finished_at_id (status, finished_at, id)``: the runs of each status the
  filters admit, in start or end order, merged (``status=failed,archived`` by ``finished_at
  desc`` no longer walks the drafts' and running runs' missing times first);
- ``ix_runs_experiment_id_started_at_id``, ``ix_runs_experiment_id_finished_at_id``,
  ``ix_runs_experiment_id_name_c_id (experiment_id, name COLLATE "C", id)``: one experiment's
  runs in each order (creation order has ``ix_runs_experiment_id_created_at_id``), instead of
  all of them read and sorted.

Expand-only, safe with the previous release live: every index is built ``CONCURRENTLY``
outside the transaction (writes go on; each build scans the table, a few seconds per index at
a million runs); an index left INVALID by an interrupted build is dropped and rebuilt by a
re-run. The previous release neither needs nor notices them. Each costs an index entry per run
insert and per transition (docs/performance.md, "Filters at 1M runs", 2026-12-06: the head
walk's indexes). The downgrade drops them (concurrently).

Offline (``--sql``) the script builds each index ``IF NOT EXISTS`` (after an interrupted build,
drop the INVALID index by hand before re-running it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> what follows ON
INDEXES = {
    "ix_runs_status_started_at_id": "runs (status, started_at, id)",
    "ix_runs_status_finished_at_id": "runs (status, finished_at, id)",
    "ix_runs_experiment_id_started_at_id": "runs (experiment_id, started_at, id)",
    "ix_runs_experiment_id_finished_at_id": "runs (experiment_id, finished_at, id)",
    "ix_runs_experiment_id_name_c_id": 'runs (experiment_id, name COLLATE "C", id)',
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
