"""PostgreSQL killed with SIGKILL (postmaster and backends: a crash) under write load."""

from __future__ import annotations

from bench.drills.harness import Drill, Stage


class DatabaseDown(Drill):
    name = "database-down"
    section = "Database down (restarted, crashed)"
    alerts = ("ExpsvcDatabaseUnreachable", "ExpsvcAvailabilityBudgetBurnFast")
    injects = "SIGKILL to the postmaster and every backend"
    shows = r"no response|no server running"
    ci = True

    def setup(self, stage: Stage) -> None:
        primary = stage.cluster("primary")
        stage.configure(primary)
        stage.serve()
        stage.worker()

    def inject(self, stage: Stage) -> None:
        stage.clusters["primary"].kill9()

    def detected(self, stage: Stage) -> bool:
        return not stage.ready()


DRILL = DatabaseDown()
