"""A release's migration rolled back under write load (0026 back to 0025, which this release
still runs on: `oldest_schema` in releases.toml; its run list stops relying on the times'
order once 0026's checks are gone)."""

from __future__ import annotations

from bench.drills.harness import Drill, DrillFailed, Stage

PREVIOUS = "0025"
HEAD = "0026"
# A check 0026 adds (a run's times in order): gone once the migration is rolled back.
_HEAD_CHECK = "ck_runs_started_in_order"


class MigrationRollback(Drill):
    name = "migration-rollback"
    section = "Migration rollback"
    alerts = ()
    injects = f"`expsvc db upgrade` applies {HEAD}, then the release is to be rolled back"
    shows = rf"current: +{HEAD}"
    variables = frozenset({"ROLLBACK_TO"})
    ci = True

    def setup(self, stage: Stage) -> None:
        primary = stage.cluster("primary")
        stage.configure(primary, ROLLBACK_TO=PREVIOUS)
        stage.operator_env["ROLLBACK_TO"] = PREVIOUS
        downgraded = stage.shell(f"expsvc db downgrade {PREVIOUS}")
        stage.transcript.pop()
        if downgraded.code:
            raise DrillFailed(f"could not start from {PREVIOUS}: {downgraded.output}")
        stage.serve()
        stage.worker()

    def inject(self, stage: Stage) -> None:
        # To HEAD, the migration this drill rolls back, not to the schema's head: later
        # migrations are not what it rehearses.
        upgraded = stage.shell(f"expsvc db upgrade {HEAD}")
        stage.transcript.pop()
        if upgraded.code:
            raise DrillFailed(f"expsvc db upgrade failed: {upgraded.output}")

    def detected(self, stage: Stage) -> bool:
        return stage.psql("SELECT version_num FROM alembic_version") == HEAD

    def verified(self, stage: Stage) -> None:
        revision = stage.psql("SELECT version_num FROM alembic_version")
        if revision != PREVIOUS:
            raise DrillFailed(f"the database is at {revision}, not {PREVIOUS}")
        left = stage.psql(f"SELECT count(*) FROM pg_constraint WHERE conname = '{_HEAD_CHECK}'")
        if left != "0":
            raise DrillFailed(f"{_HEAD_CHECK} is still there after the rollback")


DRILL = MigrationRollback()
