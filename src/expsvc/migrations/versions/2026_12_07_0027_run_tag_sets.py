"""run_tag_sets: every distinct set of tags a run has had, kept by triggers on runs

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07

Tag conditions that never meet (``tag=sweep&tag_none=gpu`` where every ``sweep`` run is a
``gpu`` run) cost a runs list the recheck of every run of the positive tag: a GIN cannot say
"not gpu", so on 1,000,000 runs the list read 200,000 of them to find none, 130 to 250 ms in
every order (docs/performance.md, 2026-12-07). Runs hold few distinct tag sets (five in
``expsvc seed``'s data, a few thousand in a busy installation), and a list whose tag conditions
no set meets selects no run: the table of the sets answers that in microseconds (ADR 0036).

``run_tag_sets (tags text[])`` holds each tag set at least once (a set two transactions wrote at
once may be there twice: a unique key would make the second writer wait for the first, and two
bulk tag edits could deadlock on each other's new sets). No set is ever removed: a set no run
has any more only makes a list read runs to find none, never hides one. A hash index on
``tags`` serves the trigger's lookup (a btree entry is limited to 2.7 kB; a run may have 64
tags of 64 characters).

Expand-only, safe with the previous release live, in two steps:

1. In the migration's transaction (brief locks under the lock timeout): the table, its index,
   the function and the triggers on ``runs``: after each INSERT statement (its new rows as a
   transition table: the seed inserts 50,000 runs at once), and after an UPDATE of a row's
   ``tags`` that changes them. The triggers, not the service, keep the table true: the previous
   release writes runs without knowing it. They commit before the backfill starts, so every
   later write is covered; CREATE TRIGGER waits for the writes in flight, so the backfill's
   snapshot sees each run committed before it.
2. The backfill, outside the transaction: the distinct sets of the runs not yet in the table, one
   statement (the runs are read once, no run is locked; re-run from the start by an interrupted
   upgrade's next run).

The revision is recorded only after both: the run list relies on the table where the revision
is 0027 or later (``RunTableFacts``), so this code runs on 0023 to 0026 too and 0027 rolls back
under it.

A row whose ``tags`` is NULL says "the sets are not kept": every list's question meets it. The
downgrade drops the triggers and the functions and adds that row, but keeps the table: the
service reads its facts about the table at most every 5 minutes, and until it has read the
downgraded revision its lists still ask the table, whose answer must stay right, not vanish or
go stale. A later upgrade finds the table, backfills the sets written meanwhile and only then
deletes that row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = """
CREATE TABLE IF NOT EXISTS run_tag_sets (
    tags text[]
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS ix_run_tag_sets_tags ON run_tag_sets USING hash (tags)"

# The sets of ``rows`` (a transition table) not yet in run_tag_sets, each once.
_NOTE_NEW_SETS = """
INSERT INTO run_tag_sets (tags)
SELECT DISTINCT added.tags FROM {rows} AS added
WHERE NOT EXISTS (SELECT FROM run_tag_sets AS known WHERE known.tags = added.tags)
"""

_ON_INSERT = f"""
CREATE OR REPLACE FUNCTION expsvc_runs_tag_sets_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    {_NOTE_NEW_SETS.format(rows="inserted").strip()};
    RETURN NULL;
END
$$
"""

_ON_UPDATE = """
CREATE OR REPLACE FUNCTION expsvc_run_tag_set_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM run_tag_sets WHERE tags = NEW.tags) THEN
        INSERT INTO run_tag_sets (tags) VALUES (NEW.tags);
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = {
    # One call per INSERT statement, its rows as a transition table.
    "trg_runs_tag_sets_insert": (
        "AFTER INSERT ON runs REFERENCING NEW TABLE AS inserted"
        " FOR EACH STATEMENT EXECUTE FUNCTION expsvc_runs_tag_sets_inserted()"
    ),
    # Per row, and only when its tags change: a transition or a heartbeat does not call it.
    "trg_runs_tag_sets_update": (
        "AFTER UPDATE OF tags ON runs FOR EACH ROW WHEN (OLD.tags IS DISTINCT FROM NEW.tags)"
        " EXECUTE FUNCTION expsvc_run_tag_set_changed()"
    ),
}

_BACKFILL = _NOTE_NEW_SETS.format(rows="(SELECT DISTINCT tags FROM runs)")
_NOT_KEPT = "INSERT INTO run_tag_sets (tags) VALUES (NULL)"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")  # CREATE TRIGGER queues the writes of runs
    op.execute(_TABLE)
    op.execute(_INDEX)
    op.execute(_ON_INSERT)
    op.execute(_ON_UPDATE)
    for name, definition in TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON runs")
        op.execute(f"CREATE TRIGGER {name} {definition}")
    # Entering the block commits the above: the triggers cover every write from here on.
    with op.get_context().autocommit_block():
        op.execute(_BACKFILL)
        op.execute("DELETE FROM run_tag_sets WHERE tags IS NULL")  # kept from here on


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON runs")
    op.execute("DROP FUNCTION IF EXISTS expsvc_run_tag_set_changed()")
    op.execute("DROP FUNCTION IF EXISTS expsvc_runs_tag_sets_inserted()")
    op.execute(_NOT_KEPT)
