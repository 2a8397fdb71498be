"""The primary killed (SIGKILL) under write load; its synchronous replica promoted by the
runbook's commands while the service, on a multi-host URL, keeps running."""

from __future__ import annotations

from bench.drills.harness import DATABASE, Drill, Stage


class Failover(Drill):
    name = "failover"
    section = "Database failover (primary lost, replica promoted)"
    alerts = ("ExpsvcDatabaseUnreachable", "ExpsvcAvailabilityBudgetBurnFast")
    injects = "SIGKILL to the primary (synchronous replica, multi-host URL)"
    shows = r"no response[\s\S]*\nt\n"
    variables = frozenset({"REPLICA_HOST", "REPLICA_PORT", "REPLICA_PGDATA"})
    ci = True

    def setup(self, stage: Stage) -> None:
        primary = stage.cluster("primary")
        replica = primary.replica("replica1", synchronous=True)
        stage.configure(primary, replica)
        stage.add_replica(replica)
        stage.serve()
        stage.worker()

    def inject(self, stage: Stage) -> None:
        stage.clusters["primary"].kill9()

    def detected(self, stage: Stage) -> bool:
        return not stage.ready()

    def present(self, stage: Stage) -> set[str]:
        return set(stage.clusters["replica"].psql("SELECT id FROM experiments", DATABASE).split())


DRILL = Failover()
