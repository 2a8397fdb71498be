"""run filter indexes: git SHA prefix, branch, creator, participants, params, name contains

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

The indexes behind ``GET /v1/runs``'s filters at a million runs (docs/adr/0018, docs/filtering.md):

- ``ix_runs_git_sha_c (git_sha COLLATE "C")``: a SHA or a prefix of one is a range (``LIKE
  'abc1234%'`` in byte order);
- ``ix_runs_git_branch_created_at_id``, ``ix_runs_created_by_created_at_id``: the runs of a
  branch or creator, newest first, are one index range (no sort, nothing discarded);
- ``ix_runs_participants`` (GIN): ``participants && '{alice}'``;
- ``ix_runs_params`` (GIN, jsonb_ops): params equality (``@>``) and key existence (``?``);
- ``ix_runs_name_trgm`` (GIN, pg_trgm): ``name ILIKE '%text%'``.

Sensors need no new index: a run's sensors are those of its capture sessions, found through the
existing ``ix_capture_sessions_sensors`` (GIN) and ``ix_capture_sessions_run_id_created_at_id``,
so linking a sensor costs the write path nothing more.

Expand-only, safe with the previous release live: every index is built ``CONCURRENTLY`` outside
the transaction, so writes go on meanwhile (each build scans the table: about 1-10 s per index
at a million runs here); an index left INVALID by an interrupted build is dropped and rebuilt by
a re-run. ``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may create it.
The previous release neither needs nor notices the indexes. The downgrade drops them
(concurrently) and leaves the extension, which other objects may use.

Offline (``--sql``) the script builds each index ``IF NOT EXISTS`` (after an interrupted build,
drop the INVALID index by hand before re-running it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# name -> what follows ON
INDEXES = {
    "ix_runs_git_sha_c": 'runs (git_sha COLLATE "C")',
    "ix_runs_git_branch_created_at_id": "runs (git_branch, created_at, id)",
    "ix_runs_created_by_created_at_id": "runs (created_by, created_at, id)",
    "ix_runs_participants": "runs USING gin (participants)",
    "ix_runs_params": "runs USING gin (params)",
    "ix_runs_name_trgm": "runs USING gin (name gin_trgm_ops)",
}


# Needs the pg_trgm extension; a server without it (the embedded default's build has no
# contrib modules) gets every other index, and name_contains reads without this one.
TRIGRAM_INDEX = "ix_runs_name_trgm"


def _trigrams_available() -> bool:
    if context.is_offline_mode():
        return True  # the SQL is for an operator's server, which ships contrib
    available = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    return bool(available)


def upgrade() -> None:
    trigrams = _trigrams_available()
    if trigrams:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for name, target in INDEXES.items():
            if name == TRIGRAM_INDEX and not trigrams:
                continue
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
