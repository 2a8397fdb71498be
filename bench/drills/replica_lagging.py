"""The read replica's replay paused (``pg_wal_replay_pause()``) under read and write load: its
lag passes the bound, reads go to the primary and keep answering 200; the runbook's commands
resume replay (the replica is running, so they do not start it)."""

from __future__ import annotations

from bench.drills.harness import Stage
from bench.drills.replica_down import MAX_LAG_MS, ReplicaDown


class ReplicaLagging(ReplicaDown):
    name = "replica-lagging"
    injects = "`SELECT pg_wal_replay_pause()` on the read replica, writes going on"
    shows = r"\bpaused\b"
    fallback_reasons = ("lagging",)
    symptom = "`expsvc_db_replica_lag_seconds` past the bound"

    def inject(self, stage: Stage) -> None:
        stage.clusters["replica"].psql("SELECT pg_wal_replay_pause()")

    def detected(self, stage: Stage) -> bool:
        lag = stage.metric("expsvc_db_replica_lag_seconds")
        return lag is not None and lag > MAX_LAG_MS / 1000


DRILL = ReplicaLagging()
