"""runs.sensors: a run's linked sensors on the run, kept by triggers, indexed by a GIN

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

A run's sensors are those of its capture sessions (the ``sensor`` filter, docs/filtering.md).
Read through ``capture_sessions`` they cost a semi-join: a sensor's capture sessions through
their GIN, then one primary-key probe into ``runs`` per session, and they combine with no other
run index. On the run (``runs.sensors text[]``: the sorted, distinct union of the sensors of
all its capture sessions) they are one bitmap of ``ix_runs_sensors`` (GIN), which ANDs with the
other filters' indexes (ADR 0032).

Expand-only, safe with the previous release live, in three steps:

1. In the migration's transaction (brief locks under the lock timeout): the column, ``NOT NULL
   DEFAULT '{}'`` (a constant default: catalogue only on PostgreSQL 11+, no rewrite; a run
   inserted by code that does not know the column gets ``{}``, which is right: a new run has no
   capture session), the function ``expsvc_refresh_run_sensors(uuid[])`` and the triggers on
   ``capture_sessions`` that call it whenever a session is inserted, deleted, or changes its
   sensors or its run. The triggers, not the service, keep the column true: the previous
   release links sensors too, without knowing the column, and its writes must keep it true
   (ADR 0032). They commit before the backfill starts, so every later capture write is covered.
2. The backfill, outside the transaction: ``expsvc_refresh_run_sensors`` over the runs that
   have a capture session with sensors, 1,000 runs per transaction in ``run_id`` order (a DO
   block that commits after each batch): no batch holds more than 1,000 run row locks, each for
   the few milliseconds of its batch, and an interrupted backfill is re-run from the start by
   the next upgrade (the refresh is idempotent and writes nothing where the column is right).
   At 1,000,000 runs with ≈ 280,000 capture sessions it took about a minute here.
3. ``ix_runs_sensors`` built ``CONCURRENTLY`` (after the backfill: cheaper than maintaining it
   during it); an INVALID index left by an interrupted build is dropped and rebuilt.

The revision is recorded only after all three: code that filters on the column runs on a
backfilled, indexed column (releases.toml: this release's ``oldest_schema`` is 0023).

The refresh locks the runs (``FOR NO KEY UPDATE``, in id order), then recomputes their sensors
from their capture sessions in a statement of its own: the function is VOLATILE, so that
statement's snapshot is taken after the locks were granted and sees every session committed by
a transaction that held one of them. A session inserted with sensors its run already has changes
nothing and locks nothing (the seed's captures, a second session of a known sensor).

The downgrade drops the triggers, the function, the index and the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_runs_sensors"
BATCH_RUNS = 1000

REFRESH = """
CREATE OR REPLACE FUNCTION expsvc_refresh_run_sensors(run_ids uuid[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Lock first: the UPDATE below is a new statement, whose snapshot sees every capture
    -- session committed by a transaction that held one of these locks before us.
    PERFORM 1 FROM runs WHERE id = ANY (run_ids) ORDER BY id FOR NO KEY UPDATE;
    UPDATE runs SET sensors = linked.sensors
    FROM (
        SELECT ids.id, ARRAY(
            SELECT DISTINCT sensor
            FROM capture_sessions AS c, unnest(c.sensors) AS sensor
            WHERE c.run_id = ids.id
            ORDER BY sensor
        ) AS sensors
        FROM unnest(run_ids) AS ids (id)
    ) AS linked
    WHERE runs.id = linked.id AND runs.sensors IS DISTINCT FROM linked.sensors;
END
$$
"""

ON_INSERT = """
CREATE OR REPLACE FUNCTION expsvc_capture_sessions_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed uuid[];
BEGIN
    -- Only runs that lack one of the new sessions' sensors change (an insert only adds).
    SELECT array_agg(DISTINCT added.run_id) INTO changed
    FROM added JOIN runs ON runs.id = added.run_id
    WHERE cardinality(added.sensors) > 0 AND NOT runs.sensors @> added.sensors;
    IF changed IS NOT NULL THEN
        PERFORM expsvc_refresh_run_sensors(changed);
    END IF;
    RETURN NULL;
END
$$
"""

ON_CHANGE = """
CREATE OR REPLACE FUNCTION expsvc_capture_session_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM expsvc_refresh_run_sensors(ARRAY[OLD.run_id]);
    ELSE
        PERFORM expsvc_refresh_run_sensors(ARRAY[OLD.run_id, NEW.run_id]);
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = {
    # One call per INSERT statement: the seed inserts thousands of sessions at once.
    "trg_capture_sessions_sensors_insert": (
        "AFTER INSERT ON capture_sessions REFERENCING NEW TABLE AS added"
        " FOR EACH STATEMENT EXECUTE FUNCTION expsvc_capture_sessions_inserted()"
    ),
    # Per row, and only when the sensors or the run change: a heartbeat or a transition of a
    # session does not call it.
    "trg_capture_sessions_sensors_update": (
        "AFTER UPDATE OF sensors, run_id ON capture_sessions FOR EACH ROW"
        " WHEN (OLD.sensors IS DISTINCT FROM NEW.sensors OR OLD.run_id IS DISTINCT FROM"
        " NEW.run_id) EXECUTE FUNCTION expsvc_capture_session_changed()"
    ),
    "trg_capture_sessions_sensors_delete": (
        "AFTER DELETE ON capture_sessions FOR EACH ROW WHEN (cardinality(OLD.sensors) > 0)"
        " EXECUTE FUNCTION expsvc_capture_session_changed()"
    ),
}

# Each batch commits: its locks are held for one batch only. Re-runnable from the start.
BACKFILL = f"""
DO $$
DECLARE
    last_id uuid := '00000000-0000-0000-0000-000000000000';
    batch uuid[];
BEGIN
    LOOP
        SELECT array_agg(run_id ORDER BY run_id) INTO batch FROM (
            SELECT DISTINCT run_id FROM capture_sessions
            WHERE run_id > last_id AND cardinality(sensors) > 0
            ORDER BY run_id LIMIT {BATCH_RUNS}
        ) AS next_runs;
        EXIT WHEN batch IS NULL;
        PERFORM expsvc_refresh_run_sensors(batch);
        last_id := batch[cardinality(batch)];
        COMMIT;
    END LOOP;
END
$$
"""  # noqa: S608 - a constant is interpolated


def upgrade() -> None:
    op.execute("ALTER TABLE runs ADD COLUMN IF NOT EXISTS sensors text[] NOT NULL DEFAULT '{}'")
    op.execute(REFRESH)
    op.execute(ON_INSERT)
    op.execute(ON_CHANGE)
    for name, definition in TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON capture_sessions")
        op.execute(f"CREATE TRIGGER {name} {definition}")
    # Entering the block commits the above: the triggers cover every write from here on.
    with op.get_context().autocommit_block():
        op.execute(BACKFILL)
        _build_index()


def _build_index() -> None:
    target = "runs USING gin (sensors)"
    if context.is_offline_mode():
        op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {target}")
        return
    valid = op.get_bind().scalar(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": INDEX},
    )
    if valid is False:  # left INVALID by an interrupted concurrent build
        op.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
    if not valid:
        op.execute(f"CREATE INDEX CONCURRENTLY {INDEX} ON {target}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON capture_sessions")
    op.execute("DROP FUNCTION IF EXISTS expsvc_capture_session_changed()")
    op.execute("DROP FUNCTION IF EXISTS expsvc_capture_sessions_inserted()")
    op.execute("DROP FUNCTION IF EXISTS expsvc_refresh_run_sensors(uuid[])")
    op.execute("ALTER TABLE runs DROP COLUMN IF EXISTS sensors")
