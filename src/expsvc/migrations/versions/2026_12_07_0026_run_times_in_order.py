"""runs: a run starts no earlier than it was created and ends no earlier than it started

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07

Every time of a run is the database's ``now()`` when it is written, so these hold but for two
corner cases: a transaction that began before the run was created (a bulk transition by filter
whose snapshot came later) writes a ``now()`` older than the run's ``created_at``, and so does a
clock stepped back between the two writes. The run list relies on the order (ADR 0034): with
``created_after=X`` a page by ``started_at`` or ``finished_at`` ascending starts its walk at X
instead of at the oldest start, where none of the runs can match.

- ``trg_runs_times_in_order``, BEFORE INSERT OR UPDATE of the times: raises a time that would
  break the order to the one before it (``started_at`` to ``created_at``, ``finished_at`` to
  ``started_at``, or to ``created_at`` for a run that never started). Its WHEN clause calls the
  function only for such a row, so every other write costs one comparison. It holds for the
  previous release's writes too: 0.2.0 runs unchanged on it.
- The rows written before it are raised the same way (an UPDATE of the few that break the
  order; the table is read once).
- ``ck_runs_started_in_order CHECK (started_at >= created_at)`` and ``ck_runs_finished_in_order
  CHECK (finished_at >= coalesce(started_at, created_at))`` state it: added ``NOT VALID`` under
  a brief lock that gives up after 5 s, validated in the migration's transaction under SHARE
  UPDATE EXCLUSIVE (reads and writes go on), no rewrite. The trigger runs before the check, so
  no write is refused for it.

Every step is re-runnable. The downgrade drops the constraints, the trigger and its function;
the raised times stay (they were off by the length of a transaction at most).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, condition): the names follow the metadata's convention (ck_<table>_<name>).
CONSTRAINTS = (
    ("ck_runs_started_in_order", "started_at >= created_at"),
    ("ck_runs_finished_in_order", "finished_at >= coalesce(started_at, created_at)"),
)
_OUT_OF_ORDER = (
    "{row}.started_at < {row}.created_at"
    " OR {row}.finished_at < coalesce({row}.started_at, {row}.created_at)"
)

_FUNCTION = """
CREATE OR REPLACE FUNCTION expsvc_run_times_in_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- greatest() skips NULLs: a time that is not set stays unset.
  IF NEW.started_at IS NOT NULL THEN
    NEW.started_at := greatest(NEW.started_at, NEW.created_at);
  END IF;
  IF NEW.finished_at IS NOT NULL THEN
    NEW.finished_at := greatest(NEW.finished_at, coalesce(NEW.started_at, NEW.created_at));
  END IF;
  RETURN NEW;
END $$
"""

_TRIGGER = f"""
CREATE OR REPLACE TRIGGER trg_runs_times_in_order
BEFORE INSERT OR UPDATE OF created_at, started_at, finished_at ON runs
FOR EACH ROW WHEN ({_OUT_OF_ORDER.format(row="NEW")})
EXECUTE FUNCTION expsvc_run_times_in_order()
"""


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # CREATE TRIGGER and ADD CONSTRAINT take brief locks that queue the service's writes:
        # give up after 5 s rather than stall them (re-run the upgrade).
        op.execute("SET lock_timeout = '5s'")
        op.execute(_FUNCTION)
        op.execute(_TRIGGER)
        # An update of a time fires the trigger, which puts it in order.
        out_of_order = _OUT_OF_ORDER.format(row="runs")
        op.execute(f"UPDATE runs SET started_at = started_at WHERE {out_of_order}")  # noqa: S608
        for name, condition in CONSTRAINTS:
            op.execute(
                f"DO $$ BEGIN\n"
                f"IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = '{name}'"
                f" AND conrelid = 'runs'::regclass) THEN\n"
                f"  ALTER TABLE runs ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID;\n"
                f"END IF;\nEND $$"
            )
        op.execute("RESET lock_timeout")
    # In the migration's own transaction: it scans runs without blocking their writes, and the
    # revision is recorded with it.
    for name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE runs VALIDATE CONSTRAINT {name}")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for name, _ in CONSTRAINTS:
        op.execute(f"ALTER TABLE runs DROP CONSTRAINT IF EXISTS {name}")
    op.execute("DROP TRIGGER IF EXISTS trg_runs_times_in_order ON runs")
    op.execute("DROP FUNCTION IF EXISTS expsvc_run_times_in_order()")
