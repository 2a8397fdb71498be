"""runs: CHECK constraints tying the lifecycle times to the status

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

The run lifecycle (``expsvc.lifecycle``) is ``draft → running → finished | failed`` and
``draft | finished | failed → archived``; each transition sets its time (``timestamp_column``)
and none clears one. So:

- a run that is ``running``, ``finished`` or ``failed`` has been started: ``started_at`` is set
  (an ``archived`` run may have been archived from draft, without ever starting: no rule);
- a run that is ``finished`` or ``failed`` has ended: ``finished_at`` is set (again not
  ``archived``, which may come from draft).

The run list relies on them (docs/filtering.md#how-a-page-is-read, ADR 0031): when the filters'
statuses imply the sort column is set, the first statement walks past the runs without it
instead of filling its head with them.

Each is added ``NOT VALID`` (a catalogue change under a brief lock that gives up after 5 s; from
then on every insert and update is checked) in a transaction of its own, then validated in the
migration's transaction, after the adds committed: the validation reads the table under SHARE
UPDATE EXCLUSIVE, so reads and writes go on, and there is no rewrite. Both steps are re-runnable
(the add is skipped when the constraint exists; validating a valid constraint does nothing).
The previous release (0.2.0) writes the times with the status in the same statement, so its
writes pass. A row that breaks a rule makes the validation fail, naming the constraint (the
revision stays 0021, the constraints stay added and not valid); correct the row and re-run the
upgrade.

The downgrade drops them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, condition): the names follow the metadata's convention (ck_<table>_<name>).
CONSTRAINTS = (
    (
        "ck_runs_started",
        "status NOT IN ('running', 'finished', 'failed') OR started_at IS NOT NULL",
    ),
    ("ck_runs_finished", "status NOT IN ('finished', 'failed') OR finished_at IS NOT NULL"),
)


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        for name, condition in CONSTRAINTS:
            op.execute(
                f"DO $$ BEGIN\n"
                f"IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = '{name}'"
                f" AND conrelid = 'runs'::regclass) THEN\n"
                f"  ALTER TABLE runs ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID;\n"
                f"END IF;\nEND $$"
            )
        # The validation's SHARE UPDATE EXCLUSIVE lock queues no read or write: it may wait.
        op.execute("RESET lock_timeout")
    # In the migration's own transaction, after the adds committed: it scans runs without
    # blocking their writes, and the revision is recorded with it.
    for name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE runs VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE runs DROP CONSTRAINT IF EXISTS {name}")
