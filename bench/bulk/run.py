#!/usr/bin/env python3
"""Benchmark bulk run transitions over HTTP: 10,000 runs started, then finished, per request.

    python bench/bulk/run.py                     # the run recorded in docs/performance.md
    python bench/bulk/run.py --runs 500 --rounds 1   # a quick check

Creates a fresh database on --server-url, migrates it and starts `expsvc serve` on it (logging
at WARNING, every feature on: idempotency, outbox + in-process relay, metrics). Each round then

1. creates a draft experiment through the API and inserts --runs draft runs into it with one
   SQL statement (what the API would create, without 10,000 requests);
2. times `POST /v1/runs/bulk/transition` with `action=start` naming every run by id (the
   experiment starts with them), with an `Idempotency-Key`;
3. waits until the in-process relay has sequenced every event and every sink has published
   them (so its work does not overlap the next timed request);
4. times `POST /v1/runs/bulk/transition` with `action=finish` selecting the same runs by filter
   (`experiment_id` + `status=running`);
5. checks that every run changed and that the batch left one history row, one event and one
   audit row per run.

Times are the client's wall clock from sending the request to having read the whole answer
(JSON body of 10,000 items included). Prints a summary, writes bench/results/bulk/<name>.json and
drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "bulk"  # ignored by git, like bench/results
START_DEADLINE = 60.0

INSERT_RUNS = """
INSERT INTO runs (id, experiment_id, name, tags, params, created_by)
SELECT gen_random_uuid(), $1, 'bulk-' || g, ARRAY['bench', 'bulk'],
       jsonb_build_object('lr', 0.001, 'batch', 64), 'bench'
FROM generate_series(1, $2) AS g
"""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=10_000, help="runs per bulk request")
    parser.add_argument("--rounds", type=int, default=3, help="start + finish rounds")
    parser.add_argument("--workers", type=int, default=1, help="expsvc serve --workers")
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args(argv)


def database_url(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


async def admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_service(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXPSVC_DATABASE_URL": url,
        "EXPSVC_LOG_LEVEL": os.environ.get("BULK_BENCH_LOG_LEVEL", "WARNING"),
        "EXPSVC_HOST": "127.0.0.1",
        "EXPSVC_PORT": str(port),
        "EXPSVC_WORKERS": str(workers),
        # An external database needs secret keys; this benchmark's database is thrown away.
        "EXPSVC_SECRET_KEYS": os.environ.get("EXPSVC_SECRET_KEYS")
        or base64.urlsafe_b64encode(os.urandom(32)).decode(),
    }
    command = [sys.executable, "-m", "expsvc", "serve", "--migrate"]
    return subprocess.Popen(  # noqa: S603 - our own CLI
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        try:
            if (await client.get("/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the service did not become ready")


RELAY_BUSY = """
SELECT (SELECT count(*) FROM outbox_events WHERE seq IS NULL)
     + (SELECT count(*) FROM event_sink_cursors
        WHERE last_seq < (SELECT coalesce(max(seq), 0) FROM outbox_events))
"""


async def relay_idle(connection: asyncpg.Connection, deadline: float = 120.0) -> float:
    """Seconds until the in-process relay has sequenced every event and every sink has
    published them (so its work does not overlap the next timed request)."""
    started = time.monotonic()
    while await connection.fetchval(RELAY_BUSY):
        if time.monotonic() - started > deadline:
            raise SystemExit("the relay did not sequence the events in time")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def timed_post(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    headers = {"Idempotency-Key": f"bench-{uuid.uuid4()}"}
    started = time.perf_counter()
    response = await client.post("/v1/runs/bulk/transition", json=body, headers=headers)
    result: dict[str, Any] = response.json()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"bulk request failed: {response.status_code} {response.text[:500]}")
    return elapsed, result


async def check_batch(connection: asyncpg.Connection, batch_id: str, runs: int) -> None:
    batch = uuid.UUID(batch_id)
    history = await connection.fetchval(
        "SELECT count(*) FROM status_history WHERE batch_id = $1 AND entity_type = 'run'", batch
    )
    audit = await connection.fetchval(
        "SELECT count(*) FROM audit_log WHERE batch_id = $1 AND entity_type = 'run'", batch
    )
    events = await connection.fetchval(
        "SELECT count(*) FROM outbox_events WHERE data->>'batch_id' = $1 AND entity_type = 'run'",
        batch_id,
    )
    if not history == audit == events == runs:
        raise SystemExit(f"batch {batch_id}: {history} history, {audit} audit, {events} events")


async def one_round(
    client: httpx.AsyncClient, connection: asyncpg.Connection, runs: int
) -> dict[str, Any]:
    experiment = (await client.post("/v1/experiments", json={"name": "bulk-bench"})).json()
    await connection.execute(INSERT_RUNS, uuid.UUID(experiment["id"]), runs)
    await connection.execute("VACUUM (ANALYZE) runs")
    ids = [
        str(r["id"])
        for r in await connection.fetch(
            "SELECT id FROM runs WHERE experiment_id = $1", uuid.UUID(experiment["id"])
        )
    ]
    start_seconds, started = await timed_post(client, {"action": "start", "ids": ids})
    assert started["counts"]["ok"] == runs, started["counts"]
    start_relay = await relay_idle(connection)
    await check_batch(connection, started["batch_id"], runs)
    finish = {
        "action": "finish",
        "filter": {"experiment_id": experiment["id"], "status": ["running"]},
    }
    finish_seconds, finished = await timed_post(client, finish)
    assert finished["counts"]["ok"] == runs, finished["counts"]
    finish_relay = await relay_idle(connection)
    await check_batch(connection, finished["batch_id"], runs)
    return {
        "start_seconds": round(start_seconds, 3),
        "finish_seconds": round(finish_seconds, 3),
        "relay_after_start_seconds": round(start_relay, 3),
        "relay_after_finish_seconds": round(finish_relay, 3),
    }


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "python": platform.python_version(),
        # Present while the shared machine is kept quiet for benchmarks.
        "quiet_marker": Path("/tmp/expsvc-bench-go").exists(),  # noqa: S108 - shared convention
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    name = f"expsvc_bulkbench_{datetime.now(UTC):%Y%m%d%H%M%S}"
    url = database_url(args.server_url, name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"{name}.serve.log"
    await admin(args.server_url, f'CREATE DATABASE "{name}"')
    port = free_port()
    service = start_service(url, port, args.workers, log)
    rounds = []
    try:
        timeout = httpx.Timeout(60.0)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=timeout
        ) as client:
            await wait_ready(client)
            connection = await asyncpg.connect(url)
            try:
                for index in range(args.rounds):
                    result = await one_round(client, connection, args.runs)
                    rounds.append(result)
                    print(f"round {index + 1}: {json.dumps(result)}", flush=True)
            finally:
                await connection.close()
    finally:
        service.terminate()
        service.wait(timeout=30)
        if not args.keep_database:
            await admin(args.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    summary = {
        "runs_per_request": args.runs,
        "workers": args.workers,
        "start_median_seconds": statistics.median(r["start_seconds"] for r in rounds),
        "finish_median_seconds": statistics.median(r["finish_seconds"] for r in rounds),
        "rounds": rounds,
        "machine": machine(load_before),
        "command": " ".join(["python", "bench/bulk/run.py", *sys.argv[1:]]),
        "time": datetime.now(UTC).isoformat(),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    outcome = asyncio.run(main(parse()))
    print(
        f"{outcome['runs_per_request']} runs per request: start median "
        f"{outcome['start_median_seconds']:.3f} s, finish median "
        f"{outcome['finish_median_seconds']:.3f} s over {len(outcome['rounds'])} rounds"
    )
