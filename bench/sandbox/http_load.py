"""The HTTP phase: a weighted mix at a fixed rate against ``expsvc serve``, with telemetry.

The service is started, its id pools prepared and the requests rendered by bench/run.py's and
bench/scenarios.py's machinery; bench/openloop sends them (open loop, latency from each
request's scheduled time) and logs every request, so latency percentiles can be drawn over
time. Meanwhile ``expsvc telemetry replay``'s generator (expsvc.telemetry.replay) sends signed
heartbeat batches for capture sessions it created through the API, at its own rate.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import latency
from scenarios import Pools, Request, RequestFactory, write_request_file
from tools import CpuMeter, OpenLoopRun, build_openloop, run_openloop

import run as bench_run
from expsvc.telemetry.replay import ReplayPlan, ReplayStats, create_sessions, replay
from expsvc.webhook.signing import new_secret
from statements import LIST_QUERIES, query_string, resolve_query

# Labels of the mix: the reads and writes of bench/scenarios.py plus one label per list query.
DEFAULT_MIX = {
    "get": 40, "create": 10, "transition": 10, "list": 10, "list-status-tag-window": 15,
    "list-experiment-status": 10, "list-name-prefix": 5, "list-started-window": 5,
}  # fmt: skip


@dataclass(frozen=True)
class HttpPhase:
    rate: float
    seconds: float
    warmup: float
    mix: Mapping[str, int]
    workers: int
    telemetry_rate: float
    telemetry_batch: int
    telemetry_sessions: int


class MixFactory(RequestFactory):
    """bench/scenarios.py's requests (get, create, transition) plus the list queries."""

    def __init__(self, pools: Pools, nonce: str, queries: Mapping[str, str]) -> None:
        super().__init__(pools, nonce, idempotency=True)
        self.queries = queries

    def labelled(self, label: str) -> Request:
        if label in self.queries:
            return Request(label, "GET", f"/v1/runs?{self.queries[label]}")
        request: Request = getattr(self, label)()
        return request

    def mix(self, weights: Mapping[str, int], total: int, seed: int = 5) -> list[Request]:
        rng = random.Random(seed)
        labels = [label for label, weight in weights.items() if weight > 0]
        chosen = rng.choices(labels, [weights[label] for label in labels], k=total)
        return [self.labelled(label) for label in chosen]


def _queries(weights: Mapping[str, int], experiment: str) -> dict[str, str]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    unknown = set(weights) - {"get", "create", "transition", *LIST_QUERIES}
    if unknown:
        raise SystemExit(f"unknown HTTP mix labels: {', '.join(sorted(unknown))}")
    return {
        name: query_string(resolve_query(LIST_QUERIES[name], experiment, today))
        for name in weights
        if name in LIST_QUERIES
    }


class TelemetryThread(threading.Thread):
    """``expsvc telemetry replay``'s generator in a thread of its own, alongside the load."""

    def __init__(self, plan: ReplayPlan) -> None:
        super().__init__(name="telemetry-replay", daemon=True)
        self.plan = plan
        self.stats: ReplayStats | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.stats = asyncio.run(replay(self.plan))
        except BaseException as error:  # reported with the results, not lost in the thread
            self.error = error


def telemetry_summary(thread: TelemetryThread) -> dict[str, Any]:
    if thread.error is not None:
        return {"error": repr(thread.error)}
    stats = thread.stats
    assert stats is not None
    latencies = [seconds * 1000 for seconds in stats.latencies]
    return {
        "requests": stats.requests,
        "events": stats.events,
        "rate": round(stats.requests / stats.elapsed, 1) if stats.elapsed else 0.0,
        "results": dict(stats.results),
        "errors": dict(stats.errors),
        "latency_ms": latency.summarise(latencies) if latencies else None,
    }


def read_request_log(path: Path) -> dict[str, list[tuple[float, int, float]]]:
    """bench/openloop's ``-l`` log by label: (scheduled s, status, latency ms)."""
    by_label: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        scheduled, label, status, latency = line.split()
        by_label[label].append((float(scheduled) / 1000, int(status), float(latency)))
    return by_label


def answered_over_time(
    by_label: Mapping[str, list[tuple[float, int, float]]],
) -> dict[str, dict[str, object]]:
    """Per label: latency percentiles of the answered requests per window of the run."""
    samples = {
        label: [(scheduled, ms) for scheduled, status, ms in requests if status > 0]
        for label, requests in sorted(by_label.items())
    }
    return latency.over_time(samples)


def run_phase(database_url: str, out: Path, phase: HttpPhase) -> dict[str, Any]:
    """Start the service, prepare, run the mix with telemetry alongside; the results."""
    secret = new_secret()
    env = {"EXPSVC_TELEMETRY_INGEST_SECRET": secret}
    total = int(phase.rate * (phase.warmup + phase.seconds))
    transitions = sum(1 for r in _labels(phase.mix, total) if r == "transition")
    with bench_run.serve(database_url, phase.workers, out / "serve.log", env) as (port, pid):
        base = f"http://127.0.0.1:{port}"
        half = transitions // 2 + 1
        pools = asyncio.run(bench_run.prepare_pools(database_url, port, half, half, {}))
        sessions = asyncio.run(create_sessions(base, phase.telemetry_sessions, {}))
        factory = MixFactory(pools, secrets.token_hex(4), _queries(phase.mix, pools.experiments[0]))
        requests = factory.mix(phase.mix, total)
        request_file = out / "http-mix.req"
        write_request_file(request_file, requests, f"127.0.0.1:{port}", close=False)
        plan = ReplayPlan(
            url=base, secret=secret, rate=phase.telemetry_rate,
            duration=phase.warmup + phase.seconds, batch_size=phase.telemetry_batch,
            sessions=tuple(sessions),
        )  # fmt: skip
        telemetry = TelemetryThread(plan)
        meter = CpuMeter(pid, bench_run.database_backends(database_url))
        log = out / "http-requests.log"
        spec = OpenLoopRun(phase.rate, phase.seconds, phase.warmup, request_log=log)
        telemetry.start()
        meter.start()
        report = run_openloop(build_openloop(out / "bin"), port, request_file, spec)
        report["cpu"] = meter.stop()
        telemetry.join()
    return {
        "openloop": report,
        "over_time": answered_over_time(read_request_log(log)),
        "telemetry": telemetry_summary(telemetry),
        "queries": factory.queries,
    }


def _labels(mix: Mapping[str, int], total: int) -> list[str]:
    """The labels :meth:`MixFactory.mix` will choose (same seed), to size the pools."""
    rng = random.Random(5)
    labels = [label for label, weight in mix.items() if weight > 0]
    return rng.choices(labels, [mix[label] for label in labels], k=total)
