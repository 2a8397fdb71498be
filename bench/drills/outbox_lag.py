"""The only relay gone: the one `expsvc worker` killed (serve runs with the relay off), so the
outbox grows; recovered by starting a worker as the runbook says."""

from __future__ import annotations

import signal

from bench.drills.harness import Drill, Stage

AGE_SECONDS = 5.0  # the alert waits for 300 s (and 5 min more); the drill for this


class OutboxLag(Drill):
    name = "outbox-lag"
    section = "Outbox lag"
    alerts = ("ExpsvcOutboxLag", "ExpsvcNoRelayLeading")
    injects = "SIGKILL to the only worker (the relay's process)"
    shows = r"relays \| sinks_led\s*\n[-+]+\n\s+0 \|\s+0\n"

    def inject(self, stage: Stage) -> None:
        worker = next(p for p in stage.processes if p.name == "worker")
        worker.kill(signal.SIGKILL)

    def detected(self, stage: Stage) -> bool:
        return stage.oldest_unpublished() > AGE_SECONDS

    def notes(self, stage: Stage) -> str:
        return (
            f"Detected at an oldest unpublished event of {AGE_SECONDS:.0f} s (the alert: 300 s "
            "for 5 min). The worker was started by the runbook's `nohup expsvc worker`."
        )


DRILL = OutboxLag()
