"""``expsvc telemetry replay``: telemetry events against the inbound endpoint at a fixed rate.

An open-loop load generator for the sandbox: request ``i`` is due at ``start + i / rate``
whatever happened to the ones before, and its latency counts from that due time, so a server
that falls behind shows it in the figures instead of slowing the generator down (no
coordinated omission). ``concurrency`` bounds the requests in flight; one waiting for a slot
is already late, and its latency says so.

Events are generated (heartbeats of ``sessions`` capture sessions, which can be created first
through the API) or read from a recorded JSONL file, one event per line. Every request is
signed like Telemetry Ingest signs it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from expsvc.webhook.signing import webhook_headers

EVENTS_PATH = "/v1/integrations/telemetry/events"


@dataclass(frozen=True)
class ReplayPlan:
    url: str
    secret: str
    rate: float
    """Requests per second."""
    duration: float | None
    """Seconds of generated load; with a file, stop early after this long (None: whole file)."""
    batch_size: int = 1
    sessions: tuple[str, ...] = ()
    file: Path | None = None
    as_recorded: bool = False
    """Replay a file's ids and timestamps unchanged (a second replay is then all duplicates)."""
    concurrency: int = 64
    timeout: float = 10.0

    @property
    def total_requests(self) -> int | None:
        return None if self.duration is None else max(1, round(self.rate * self.duration))


@dataclass
class ReplayStats:
    latencies: list[float] = field(default_factory=list)
    """Seconds from each request's due time to its answer (successful requests)."""
    errors: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    events: int = 0
    elapsed: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def percentile(self, fraction: float) -> float | None:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, -(-len(ordered) * fraction // 1))
        return ordered[int(rank) - 1]


def generated_batches(plan: ReplayPlan) -> Iterator[list[dict[str, Any]]]:
    """Heartbeats of the plan's sessions, round-robin, ``batch_size`` per request."""
    sessions = itertools.cycle(plan.sessions)
    prefix = uuid.uuid4().hex[:12]
    numbers = itertools.count()
    while True:
        now = datetime.now(UTC).isoformat()
        yield [
            {
                "id": f"replay-{prefix}-{next(numbers)}",
                "type": "telemetry.heartbeat",
                "timestamp": now,
                "data": {"capture_session_id": next(sessions), "last_data_at": now},
            }
            for _ in range(plan.batch_size)
        ]


def recorded_batches(plan: ReplayPlan) -> Iterator[list[dict[str, Any]]]:
    """The file's events, ``batch_size`` per request; fresh ids and times unless as recorded."""
    assert plan.file is not None
    prefix = uuid.uuid4().hex[:12]
    with plan.file.open("rb") as lines:
        events: Iterator[dict[str, Any]] = (orjson.loads(line) for line in lines if line.strip())
        for number, batch in enumerate(_batched(events, plan.batch_size)):
            yield [
                event if plan.as_recorded else _refreshed(event, f"replay-{prefix}-{number}-{i}")
                for i, event in enumerate(batch)
            ]


def _batched(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """``itertools.batched`` (Python 3.12) for 3.11."""
    while batch := list(itertools.islice(items, size)):
        yield batch


def _refreshed(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    data = dict(event.get("data") or {})
    if "last_data_at" in data:
        data["last_data_at"] = now
    return {**event, "id": event_id, "timestamp": now, "data": data}


async def replay(plan: ReplayPlan, progress: Callable[[int], None] | None = None) -> ReplayStats:
    """Send the plan's requests on schedule; ``progress`` is called with each answered one."""
    batches = recorded_batches(plan) if plan.file is not None else generated_batches(plan)
    total = plan.total_requests
    if total is not None:
        batches = itertools.islice(batches, total)
    stats = ReplayStats()
    slots = asyncio.Semaphore(plan.concurrency)
    limits = httpx.Limits(
        max_connections=plan.concurrency, max_keepalive_connections=plan.concurrency
    )
    async with httpx.AsyncClient(base_url=plan.url, timeout=plan.timeout, limits=limits) as http:
        started = time.perf_counter()
        in_flight: set[asyncio.Task[None]] = set()
        for number, batch in enumerate(batches):
            due = started + number / plan.rate
            if (
                plan.file is not None
                and plan.duration is not None
                and due - started > plan.duration
            ):
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(_send(http, plan, batch, due, slots, stats, progress))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        stats.elapsed = time.perf_counter() - started
    return stats


async def _send(
    http: httpx.AsyncClient,
    plan: ReplayPlan,
    batch: list[dict[str, Any]],
    due: float,
    slots: asyncio.Semaphore,
    stats: ReplayStats,
    progress: Callable[[int], None] | None,
) -> None:
    async with slots:
        body = orjson.dumps({"events": batch})
        message_id = f"msg_{uuid.uuid4().hex}"
        headers = webhook_headers([plan.secret], message_id, int(time.time()), body)
        headers["content-type"] = "application/json"
        stats.requests += 1
        stats.events += len(batch)
        try:
            response = await http.post(EVENTS_PATH, content=body, headers=headers)
        except httpx.HTTPError as error:
            stats.errors[type(error).__name__] += 1
        else:
            if response.status_code == 200:
                stats.latencies.append(time.perf_counter() - due)
                for item in response.json().get("results", []):
                    stats.results[str(item.get("result"))] += 1
            else:
                stats.errors[f"HTTP {response.status_code}"] += 1
    if progress is not None:
        progress(1)


async def create_sessions(
    url: str, count: int, headers: dict[str, str], prefix: str | None = None
) -> list[str]:
    """``count`` running capture sessions (in one running run) to send telemetry for."""
    prefix = prefix or f"replay-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        experiment = await _created(http, "/v1/experiments", {"name": f"{prefix} telemetry replay"})
        run = await _created(http, f"/v1/experiments/{experiment['id']}/runs", {"name": prefix})
        await _created(http, f"/v1/runs/{run['id']}/start", None, status=200)
        ids = [f"{prefix}-{i}" for i in range(count)]
        for capture_session_id in ids:
            capture = await _created(
                http, f"/v1/runs/{run['id']}/captures", {"capture_session_id": capture_session_id}
            )
            await _created(http, f"/v1/captures/{capture['id']}/start", None, status=200)
    return ids


async def _created(
    http: httpx.AsyncClient, path: str, body: dict[str, Any] | None, status: int = 201
) -> dict[str, Any]:
    response = await http.post(path, json=body)
    if response.status_code != status:
        raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    result: dict[str, Any] = response.json()
    return result
