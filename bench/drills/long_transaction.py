"""A session holds ACCESS EXCLUSIVE locks on `experiments` and `runs` (a forgotten manual
transaction, a migration run by hand): writes wait, the pool fills, latency burns; recovered by
ending the blocking session as the runbook says."""

from __future__ import annotations

import subprocess

from bench.drills.harness import Drill, Stage

SLOW_SECONDS = 2.0


class LongTransaction(Drill):
    name = "long-transaction"
    section = "Pool exhausted"
    alerts = (
        "ExpsvcDbPoolExhausted",
        "ExpsvcLatencyBudgetBurnFast",
        "ExpsvcLatencyBudgetBurnSlow",
        "ExpsvcBulkLatencyBudgetBurnFast",
        "ExpsvcBulkLatencyBudgetBurnSlow",
    )
    injects = "a psql session holding `LOCK TABLE experiments, runs IN ACCESS EXCLUSIVE MODE`"
    shows = r"\{\d+\}"  # a session blocked by another: pg_blocking_pids is not empty

    def __init__(self) -> None:
        self.holder: subprocess.Popen[bytes] | None = None

    def inject(self, stage: Stage) -> None:
        sql = "BEGIN; LOCK TABLE experiments, runs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3600);"
        self.holder = subprocess.Popen(
            ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=stage.operator_env | {"PGAPPNAME": "a-forgotten-psql"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stage.cleanup.append(self.holder.kill)

    def detected(self, stage: Stage) -> bool:
        assert stage.load is not None
        return stage.load.longest_wait() > SLOW_SECONDS

    def verified(self, stage: Stage) -> None:
        assert self.holder is not None
        self.holder.wait(timeout=30)  # its backend was terminated: psql exits

    def notes(self, stage: Stage) -> str:
        return (
            f"Detected when a write had waited {SLOW_SECONDS:.0f} s (the latency SLO's "
            "threshold is 0.4 s; the pool alert waits 5 min)."
        )


DRILL = LongTransaction()
