"""The read replica stopped (immediate shutdown), or its replay paused, under read and write
load: reads go to the primary and keep answering 200, writes go on; the runbook's commands start
the replica again (resume its replay) and the service reads from it again by itself."""

from __future__ import annotations

import math
import threading
from collections import Counter

import httpx
from bench.drills.harness import DATABASE, RUNTIME, Drill, DrillFailed, Stage, poll

MAX_LAG_MS = 2000
READ_PATHS = ("/v1/experiments", "/v1/experiments/export?format=jsonl")


class ReadLoad:
    """Two threads listing and exporting experiments; the statuses counted."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(2)]

    def start(self) -> ReadLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def not_ok(self) -> int:
        with self._lock:
            return sum(count for status, count in self.statuses.items() if status != 200)

    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def _loop(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            while not self._stop.is_set():
                for path in READ_PATHS:
                    try:
                        status = http.get(path).status_code
                    except httpx.TransportError as error:
                        status = 0
                        self.errors.append(repr(error))
                    with self._lock:
                        self.statuses[status] += 1
                self._stop.wait(0.05)


class ReplicaDown(Drill):
    name = "replica-down"
    section = "Read replica lagging or down"
    # No client sees an error (the primary answers the reads), but every read meant for the
    # replica goes to the primary: lagging, unavailable or replica_failed, all the alert counts.
    alerts = ("ExpsvcReadReplicaLagging",)
    injects = "`pg_ctl stop -m immediate` of the read replica (EXPSVC_DATABASE_REPLICA_URL)"
    shows = r"no response"
    variables = frozenset(
        {"REPLICA_HOST", "REPLICA_PORT", "REPLICA_PGDATA", "EXPSVC_DATABASE_REPLICA_MAX_LAG_MS"}
    )
    ci = True  # replica-lagging too (a subclass)

    def setup(self, stage: Stage) -> None:
        primary = stage.cluster("primary")
        replica = primary.replica("replica1")  # asynchronous: stopping it holds up no commit
        stage.configure(
            primary,
            EXPSVC_DATABASE_REPLICA_URL=replica.url(DATABASE, RUNTIME),
            EXPSVC_DATABASE_REPLICA_MAX_LAG_MS=str(MAX_LAG_MS),
            EXPSVC_DATABASE_REPLICA_CHECK_INTERVAL_MS="200",
        )
        stage.add_replica(replica)
        stage.serve()
        stage.worker()
        self.reads = ReadLoad(stage.url).start()
        stage.cleanup.append(self.reads.stop)
        poll(lambda: self._replica_reads(stage) > 0, "reads served by the replica")

    def _replica_reads(self, stage: Stage) -> float:
        return stage.metric("expsvc_db_routed_reads_total", target="replica") or 0.0

    def inject(self, stage: Stage) -> None:
        stage.clusters["replica"].stop("immediate")

    def detected(self, stage: Stage) -> bool:
        return stage.metric("expsvc_db_replica_lag_seconds") == math.inf

    def verified(self, stage: Stage) -> None:
        before = self._replica_reads(stage)
        poll(lambda: self._replica_reads(stage) > before, "reads served by the replica again")
        if self.reads.not_ok():
            statuses = dict(self.reads.statuses)
            raise DrillFailed(f"reads not 200: {statuses} {self.reads.errors[:3]}")

    fallback_reasons = ("unavailable", "replica_failed")
    symptom = "`expsvc_db_replica_lag_seconds` = +Inf"

    def notes(self, stage: Stage) -> str:
        self.reads.stop()
        fell_back = sum(
            stage.metric("expsvc_db_routed_reads_total", target="primary", reason=reason) or 0.0
            for reason in self.fallback_reasons
        )
        return (
            f"Reads (2 list and export loops) throughout: {self.reads.total()}, of which "
            f"{self.reads.not_ok()} answered other than 200; {fell_back:.0f} sent to or run again "
            f"on the primary meanwhile. Detected at {self.symptom}; verified once the lag was "
            f"within `EXPSVC_DATABASE_REPLICA_MAX_LAG_MS` ({MAX_LAG_MS} ms) and the replica "
            "served reads again (no restart of the service)."
        )


DRILL = ReplicaDown()
