"""PostgreSQL killed with SIGKILL (postmaster and backends: a crash) under write load."""

from __future__ import annotations

from bench.drills.harness import Drill, Stage


class DatabaseDown(Drill):
    name = "database-down"
    section = "Database down (restarted, crashed)"
    # Every request and every job pass fails while it lasts: given the alerts' windows, all of
    # these fire (the reaper's and reconciliation's after 30 min).
    alerts = (
        "ExpsvcDatabaseUnreachable",
        "ExpsvcAvailabilityBudgetBurnFast",
        "ExpsvcAvailabilityBudgetBurnSlow",
        "ExpsvcReaperFailing",
        "ExpsvcReconciliationFailing",
    )
    injects = "SIGKILL to the postmaster and every backend"
    shows = r"no response|no server running"
    ci = True

    def inject(self, stage: Stage) -> None:
        stage.clusters["primary"].kill9()

    def detected(self, stage: Stage) -> bool:
        return not stage.ready()


DRILL = DatabaseDown()
