"""A mass update damages every experiment's name under write load; the database is restored to
the moment before it from the nightly base backup and the WAL archive (`expsvc backup`)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from bench.drills.harness import Drill, DrillFailed, Stage
from tests.pgcluster import bindir, private_directory, run

from expsvc.backup.tool import archive_command

LABEL = "nightly"


def stop_if_running(pgdata: Path) -> None:
    if (pgdata / "postmaster.pid").exists():
        run("pg_ctl", "-D", str(pgdata), "-m", "immediate", "-w", "stop", check=False)


class Restore(Drill):
    name = "restore"
    section = "Restore to a point in time"
    alerts = ()
    injects = "`UPDATE experiments SET name = 'damaged'` (every row), committed"
    shows = rf"(?m)^{LABEL}\t"
    variables = frozenset({"BACKUP_LABEL", "RESTORE_UNTIL", "RESTORE_DIR"})
    ci = True

    def __init__(self) -> None:
        self.target = 0.0  # monotonic time of RESTORE_UNTIL

    def setup(self, stage: Stage) -> None:
        backups = private_directory("drill-backups")
        stage.cleanup.append(lambda: shutil.rmtree(backups, ignore_errors=True))
        # The server's user runs the archive command: the system's Python, not root's venv.
        python = sys.executable
        if os.geteuid() == 0:
            python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
        command = archive_command(backups / "wal", python).replace("'", "''")
        primary = stage.cluster(
            "primary", archive_mode="on", archive_command=f"'{command}'", archive_timeout="60"
        )
        restored = private_directory("drill-restored")
        stage.cleanup.append(lambda: shutil.rmtree(restored, ignore_errors=True))
        stage.cleanup.append(lambda: stop_if_running(restored / "data"))
        stage.configure(
            primary,
            EXPSVC_BACKUP_DIR=str(backups),
            EXPSVC_BACKUP_DATABASE_URL=primary.url(),
            EXPSVC_POSTGRES_BINDIR=str(bindir()),
        )
        stage.operator_env |= {
            "BACKUP_LABEL": LABEL,
            "RESTORE_DIR": str(restored / "data"),
        }
        created = stage.shell(f"expsvc backup create --label {LABEL}")
        stage.transcript.pop()
        if created.code:
            raise DrillFailed(f"expsvc backup create failed: {created.output}")
        stage.serve()
        stage.worker()

    def inject(self, stage: Stage) -> None:
        # The moment writes count as before the target is taken before the server's clock is
        # read: a write acknowledged before it committed before RESTORE_UNTIL. Taken after the
        # psql call returned, it counted a write that committed while psql started (tens of ms
        # on a busy machine) as before the target, though the restore rightly stops before it.
        self.target = time.monotonic()
        until = stage.psql("SELECT to_json(clock_timestamp())#>>'{}'")
        stage.operator_env["RESTORE_UNTIL"] = until
        time.sleep(0.5)
        stage.psql("UPDATE experiments SET name = 'damaged'")

    def detected(self, stage: Stage) -> bool:
        return True  # the damage is a person's discovery: not measured

    def verified(self, stage: Stage) -> None:
        damaged = stage.psql("SELECT count(*) FROM experiments WHERE name = 'damaged'")
        if damaged != "0":
            raise DrillFailed(f"{damaged} damaged experiments after the restore")

    def expected(self, stage: Stage) -> set[str]:
        assert stage.load is not None
        return {key for key, when in stage.load.acknowledged.items() if when < self.target}

    def notes(self, stage: Stage) -> str:
        assert stage.load is not None
        after = set(stage.load.acknowledged) - self.expected(stage)
        gone = after - self.present(stage)
        return (
            "Detection is a person noticing the damage (not measured: 0 here). *Lost* counts "
            "writes acknowledged before the restore target; of the "
            f"{len(after)} acknowledged after it, {len(gone)} are gone by design (they came "
            "after the target, before the damaged server was stopped)."
        )


DRILL = Restore()
