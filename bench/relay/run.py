#!/usr/bin/env python3
"""Benchmark the outbox relay to Redis Streams: throughput, and commit-to-stream latency.

    python bench/relay/run.py                      # the run recorded in docs/performance.md
    python bench/relay/run.py --events 5000 --rate 100 --duration 3   # a quick check

Creates a fresh database on --server-url, migrates it, starts one `expsvc worker` on it that
relays to a fresh stream on --redis-url (logging at WARNING), then:

1. **throughput**: one SQL statement commits --events events straight into `outbox_events`
   (as that many transactions would have); measured from that commit until the last of them is
   in the stream (sequencing and publishing both included);
2. **latency**: a separate process (this script, `produce`) commits one event per transaction
   at --rate events/s for --duration s (open loop: on a fixed schedule, whatever the relay
   does); a consumer here (XREAD BLOCK) stamps each entry's arrival. Latency is arrival minus
   the time the producer *sent* the committing INSERT (an upper bound of commit-to-published:
   the commit happens between send and reply).

Prints a table and writes bench/relay/results/<time>.json; drops the database and the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"

INSERT_MANY = """
INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)
SELECT gen_random_uuid(), 'run.updated', 'run', gen_random_uuid(), clock_timestamp(),
       jsonb_build_object('run', jsonb_build_object('name', 'bench', 'status', 'running',
                                                    'tags', jsonb_build_array('a', 'b')),
                          'actor', 'bench', 'source', 'user', 'changed_fields',
                          jsonb_build_array('tags'))
FROM generate_series(1, $1)
"""
INSERT_ONE = """
INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)
VALUES ($1, 'run.updated', 'run', gen_random_uuid(), clock_timestamp(),
        jsonb_build_object('run', jsonb_build_object('name', 'bench', 'status', 'running'),
                           'actor', 'bench', 'source', 'user'))
"""


def database_url(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


async def admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# expsvc worker needs the keys of secrets at rest on an external database; one per run, the same
# in every worker.
_SECRET_KEY = Fernet.generate_key().decode()


def start_worker(url: str, redis_url: str, stream: str, batch_size: int, log: Path) -> Any:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
    env |= {
        "EXPSVC_DATABASE_URL": url,
        "EXPSVC_SECRET_KEYS": _SECRET_KEY,
        "EXPSVC_REDIS_URL": redis_url,
        "EXPSVC_REDIS_STREAM": stream,
        "EXPSVC_REDIS_STREAM_MAXLEN": "10000000",
        "EXPSVC_RELAY_BATCH_SIZE": str(batch_size),
        "EXPSVC_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "expsvc", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


class Arrivals(threading.Thread):
    """Reads the stream from its current end and stamps every entry's arrival time."""

    def __init__(self, redis_url: str, stream: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=10)
        self.stream = stream
        self.last = (
            self.client.xinfo_stream(stream)["last-generated-id"]
            if self.client.exists(stream)
            else "0-0"
        )
        self.times: dict[str, float] = {}
        self.stopped = threading.Event()

    def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while ids - set(self.times) and time.monotonic() < deadline:
            time.sleep(0.05)

    def run(self) -> None:
        while not self.stopped.is_set():
            reply = self.client.xread({self.stream: self.last}, count=1000, block=200)
            now = time.time()
            for _, entries in reply:
                for entry_id, fields in entries:
                    self.times.setdefault(fields[b"id"].decode(), now)
                    self.last = entry_id


def wait_for_length(client: redis.Redis, stream: str, length: int) -> None:
    while client.xlen(stream) < length:
        time.sleep(0.005)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def throughput(url: str, redis_url: str, stream: str, events: int) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    start_length = client.xlen(stream) if client.exists(stream) else 0
    connection = await asyncpg.connect(url)
    try:
        committed_at = time.monotonic()
        await connection.execute(INSERT_MANY, events)
        insert_seconds = time.monotonic() - committed_at
        committed_at = time.monotonic()
    finally:
        await connection.close()
    await asyncio.to_thread(wait_for_length, client, stream, start_length + events)
    seconds = time.monotonic() - committed_at
    return {
        "events": events,
        "insert_seconds": round(insert_seconds, 3),
        "seconds_from_commit": round(seconds, 3),
        "events_per_second": round(events / seconds),
    }


async def produce(url: str, rate: float, duration: float, output: Path) -> None:
    """Open loop: event i is committed at start + i / rate (or as soon after as possible)."""
    connection = await asyncpg.connect(url)
    sent: dict[str, float] = {}
    behind = 0.0
    try:
        start = time.monotonic() + 0.2
        for index in range(int(rate * duration)):
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                behind = max(behind, -delay)
            event_id = uuid.uuid4()
            sent[str(event_id)] = time.time()
            await connection.execute(INSERT_ONE, event_id)
    finally:
        await connection.close()
    text = json.dumps({"sent": sent, "max_behind_schedule_s": behind})
    await asyncio.to_thread(output.write_text, text)


async def latency(
    url: str, redis_url: str, stream: str, rate: float, duration: float
) -> dict[str, Any]:
    arrivals = Arrivals(redis_url, stream)
    arrivals.start()
    sent_file = RESULTS / f".sent-{uuid.uuid4().hex}.json"
    command = [sys.executable, __file__, "produce", url, str(rate), str(duration), str(sent_file)]
    await asyncio.to_thread(subprocess.run, command, check=True)
    produced = json.loads(sent_file.read_text())
    sent_file.unlink()
    sent: dict[str, float] = produced["sent"]
    await asyncio.to_thread(arrivals.wait_for, set(sent), 30.0)
    arrivals.stopped.set()
    arrivals.join()
    missing = set(sent) - set(arrivals.times)
    ms = [(arrivals.times[key] - sent[key]) * 1000 for key in sent if key in arrivals.times]
    stages = await stage_times(url, arrivals.times, list(sent))
    return {
        **stages,
        "rate": rate,
        "duration_s": duration,
        "events": len(sent),
        "missing": len(missing),
        "producer_max_behind_schedule_ms": round(produced["max_behind_schedule_s"] * 1000, 1),
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


async def stage_times(url: str, arrived: dict[str, float], ids: list[str]) -> dict[str, Any]:
    """Where the time went: insert to sequenced (the sequencer), sequenced to arrival."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT event_id::text AS id, extract(epoch FROM created_at) AS created,"
            " extract(epoch FROM sequenced_at) AS sequenced FROM outbox_events"
            " WHERE event_id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await connection.close()
    sequencing = [(float(r["sequenced"]) - float(r["created"])) * 1000 for r in rows]
    publishing = [
        (arrived[r["id"]] - float(r["sequenced"])) * 1000 for r in rows if r["id"] in arrived
    ]
    return {
        "insert_to_sequenced_p50_ms": round(percentile(sequencing, 0.5), 1),
        "insert_to_sequenced_p95_ms": round(percentile(sequencing, 0.95), 1),
        "sequenced_to_stream_p50_ms": round(percentile(publishing, 0.5), 1),
        "sequenced_to_stream_p95_ms": round(percentile(publishing, 0.95), 1),
    }


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "loadavg_before": [round(value, 2) for value in load],
        "quiet_flag": Path("/tmp/expsvc-bench-go").exists(),  # noqa: S108 - the agreed flag
        "python": platform.python_version(),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from expsvc.migrate import upgrade

    name = f"expsvc_relaybench_{datetime.now(UTC):%Y%m%d%H%M%S}"
    url = database_url(args.server_url, name)
    stream = f"expsvc.bench.{uuid.uuid4().hex[:8]}"
    await admin(args.server_url, f'CREATE DATABASE "{name}"')
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f".worker-{name}.log"
    result: dict[str, Any] = {"machine": machine(), "batch_size": args.batch_size}
    worker = None
    try:
        await asyncio.to_thread(upgrade, url)
        worker = start_worker(url, args.redis_url, stream, args.batch_size, log)
        await asyncio.sleep(2.0)  # the worker connects, LISTENs and idles
        if worker.poll() is not None:
            raise SystemExit(f"worker exited:\n{log.read_text()}")
        result["throughput"] = [
            await throughput(url, args.redis_url, stream, args.events) for _ in range(args.repeat)
        ]
        result["latency"] = await latency(url, args.redis_url, stream, args.rate, args.duration)
        result["machine"]["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        redis.Redis.from_url(args.redis_url).delete(stream)
        await admin(args.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        log.unlink(missing_ok=True)
    return result


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=50_000, help="events per throughput run")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs")
    parser.add_argument("--batch-size", type=int, default=500, help="EXPSVC_RELAY_BATCH_SIZE")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s for latency")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of latency run")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "produce":
        _, _, db, rate, duration, out = sys.argv
        asyncio.run(produce(db, float(rate), float(duration), Path(out)))
        sys.exit(0)
    arguments = parse()
    outcome = asyncio.run(main(arguments))
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    (RESULTS / f"{stamp}.json").write_text(json.dumps(outcome, indent=2) + "\n")
    print(json.dumps(outcome, indent=2))
    rates = [run["events_per_second"] for run in outcome["throughput"]]
    lat = outcome["latency"]
    print(
        f"\nthroughput: best {max(rates)} events/s of {rates}"
        f"\nlatency at {lat['rate']:.0f}/s: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, "
        f"p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms ({lat['missing']} missing)"
        f"\nwritten to {RESULTS / f'{stamp}.json'}"
    )
