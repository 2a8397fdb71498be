#!/usr/bin/env python3
"""Benchmark GET /v1/runs's filters on a seeded database: one request per case, then a mix.

    createdb filters_bench
    EXPSVC_DATABASE_URL=postgresql://.../filters_bench EXPSVC_DB_STATEMENT_TIMEOUT_MS=0 \\
        sh -c 'expsvc db upgrade && expsvc seed --experiments 200 --runs 1000000'
    psql .../filters_bench -c 'VACUUM ANALYZE'
    /work/wt/bench-lock python bench/filters/run.py --database-url postgresql://.../filters_bench

Starts `expsvc serve` on the database (identity off: the caller is an admin and sees every
run; logging at WARNING). Then:

1. single client, warm: every typed filter alone, every combination of two and of three, each
   in every order (created_at, started_at, finished_at, name; desc and asc), one request each
   after one untimed pass over all of them on each worker process (a keep-alive connection to
   each: every worker compiles the statements of the shapes it serves, as a service that has
   run a while has); latency = the client's wall clock per request (httpx, keep-alive).
   Reports p50/p95/max and the slowest cases;
2. mixed: bench/openloop at --rate req/s for --duration s over the same URLs in a shuffled
   order (open loop: latency from each request's scheduled time), keep-alive; with the CPU the
   service, the database's backends and the whole machine used meanwhile.

Prints a summary and writes bench/results/filters/<name>.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.tools import (  # noqa: E402
    CpuMeter,
    OpenLoopRun,
    build_openloop,
    database_backends,
    machine_speed,
    run_openloop,
)

RESULTS = ROOT / "bench" / "results" / "filters"
ORDERS = [
    (column, order)
    for column in ("created_at", "started_at", "finished_at", "name")
    for order in ("desc", "asc")
]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a database seeded by expsvc seed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--max-combination", type=int, default=3)
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--mixed-only", action="store_true", help="skip the single client (one warm pass only)"
    )
    return parser.parse_args(argv)


async def typed_filters(url: str) -> dict[str, dict[str, Any]]:
    """One value of each typed filter, taken from the data as a user would pick it."""
    connection = await asyncpg.connect(url)
    try:
        run = await connection.fetchrow(
            "SELECT experiment_id, git_sha, created_by FROM runs ORDER BY id LIMIT 1 OFFSET 4242"
        )
        sensor = await connection.fetchval(
            "SELECT sensors[2] FROM capture_sessions ORDER BY id LIMIT 1 OFFSET 77"
        )
    finally:
        await connection.close()
    return {
        "experiment_id": {"experiment_id": str(run["experiment_id"])},
        "status": {"status": "running"},
        "status_several": {"status": ["failed", "archived"]},
        "tag": {"tag": "sweep"},
        "tag_any": {"tag_any": ["ablation", "v2"]},
        "tag_none": {"tag_none": "gpu"},
        "name_prefix": {"name_prefix": "vit-run-12"},
        "name_contains": {"name_contains": "run-4242"},
        "git_sha": {"git_sha": run["git_sha"][:8]},
        "git_branch": {"git_branch": "feature/gpt-42"},
        "participant": {"participant": "guest-17"},
        "sensor": {"sensor": sensor},
        "created_by": {"created_by": run["created_by"]},
        "params": {"params": "optimizer=lion"},
        "created_after": {"created_after": "2026-11-20T00:00:00Z"},
    }


def cases(filters: dict[str, dict[str, Any]], most: int) -> list[tuple[str, str]]:
    """(label, URL) of every combination of up to ``most`` filters, in every order."""
    found = []
    for size in range(1, most + 1):
        for names in itertools.combinations(sorted(filters), size):
            keys = [key for name in names for key in filters[name]]
            if len(keys) != len(set(keys)):
                # Two filters on one parameter (status and status_several) are one filter whose
                # values are ORed, not a combination: the later would overwrite the earlier.
                continue
            query: dict[str, Any] = {}
            for name in names:
                query.update(filters[name])
            for column, order in ORDERS:
                params = {**query, "order_by": column, "order": order}
                label = "+".join(names) + f" by {column} {order}"
                found.append((label, "/v1/runs?" + urlencode(params, doseq=True)))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXPSVC_DATABASE_URL": url,
        "EXPSVC_LOG_LEVEL": "WARNING",
        "EXPSVC_HOST": "127.0.0.1",
        "EXPSVC_PORT": str(port),
        "EXPSVC_WORKERS": str(workers),
        "EXPSVC_SECRET_KEYS": os.environ.get("EXPSVC_SECRET_KEYS", "A" * 43 + "="),
        # Reads are measured: without these the reaper fails the seed's running runs whose
        # heartbeats are long stale (160,000 at 1M runs, 207,000 events) while the lists are
        # timed, and the data changes under the measurement.
        "EXPSVC_REAPER_INTERVAL_SECONDS": "0",
        "EXPSVC_CAPTURE_RECONCILE_INTERVAL_SECONDS": "0",
    }
    command = [sys.executable, "-m", "expsvc", "serve"]
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # noqa: S603


def wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready")


def warm(client: httpx.Client, found: list[tuple[str, str]]) -> None:
    """One untimed request per case: plans, caches, connections."""
    for _, path in found:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")


def _socket_owner(client_port: int, server_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server's end of the connection from ``client_port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
            if local == server_port and remote == client_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        try:
            if any(os.readlink(fd) in inodes for fd in fds.iterdir()):
                return pid
        except OSError:
            continue
    return None


def worker_clients(base_url: str, server_pid: int, workers: int) -> list[httpx.Client]:
    """A keep-alive client connected to each of the service's worker processes (the kernel
    hands a new connection to any of them: connect until each has one)."""
    port = int(base_url.rsplit(":", 1)[1])
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    pids = [int(child) for child in children]
    kept: dict[int, httpx.Client] = {}
    for _ in range(50 * workers):
        client = httpx.Client(base_url=base_url, timeout=60)
        response = client.get("/health/ready")
        stream = response.extensions["network_stream"]
        owner = _socket_owner(stream.get_extra_info("client_addr")[1], port, pids)
        if owner is None or owner in kept:
            client.close()
        else:
            kept[owner] = client
        if len(kept) == workers:
            break
    return list(kept.values())


def warm_every_worker(
    base_url: str, server_pid: int, workers: int, found: list[tuple[str, str]]
) -> int:
    """One untimed request per case on each worker process (each compiles and caches the
    statements of the shapes it has served: docs/performance.md); how many were warmed."""
    clients = worker_clients(base_url, server_pid, workers)
    with ThreadPoolExecutor(len(clients) or 1) as pool:
        list(pool.map(lambda client: warm(client, found), clients))
    for client in clients:
        client.close()
    return len(clients)


def single_client(client: httpx.Client, found: list[tuple[str, str]]) -> dict[str, Any]:
    timings = []
    for label, path in found:
        started = time.perf_counter()
        response = client.get(path)
        timings.append(((time.perf_counter() - started) * 1000, label))
        assert response.status_code == 200, response.text
    values = sorted(ms for ms, _ in timings)
    return {
        "requests": len(values),
        "p50_ms": statistics.median(values),
        "p95_ms": values[int(0.95 * (len(values) - 1))],
        "max_ms": values[-1],
        "over_20_ms": sum(1 for v in values if v > 20),
        "slowest": sorted(timings, reverse=True)[:15],
    }


def mixed(
    port: int, server_pid: int, found: list[tuple[str, str]], args: argparse.Namespace
) -> dict[str, Any]:
    binary = build_openloop(args.output_dir / "bin")
    shuffled = found[:]
    random.Random(12).shuffle(shuffled)
    path = args.output_dir / "mixed.req"
    with path.open("wb") as sink:
        for _, url in shuffled:
            raw = f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
            sink.write(f"filters\t{len(raw)}\n".encode() + raw)
    spec = OpenLoopRun(args.rate, args.duration, args.warmup)
    # Where the CPU goes (warm-up included): the service's processes, the database's backends
    # (parallel workers are not backends of the database: they count in the machine's only).
    meter = CpuMeter(server_pid, database_backends(args.database_url))
    meter.start()
    report = run_openloop(binary, port, path, spec)
    report["cpu"] = meter.stop()
    return report


def main() -> None:
    args = parse()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    filters = asyncio_run(typed_filters(args.database_url))
    found = cases(filters, args.max_combination)
    speed = machine_speed()
    print(f"machine speed: {speed} s for 10M Python additions", file=sys.stderr)
    port = free_port()
    server = serve(args.database_url, port, args.workers, args.output_dir / "server.log")
    started = datetime.now(UTC)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            wait_ready(client)
            warmed = warm_every_worker(
                str(client.base_url).rstrip("/"), server.pid, args.workers, found
            )
            print(f"warmed {warmed} of {args.workers} workers", file=sys.stderr)
            single = None if args.mixed_only else single_client(client, found)
        if single is not None:
            print(
                f"single client: {single['requests']} requests, p50 {single['p50_ms']:.1f} ms, "
                f"p95 {single['p95_ms']:.1f} ms, max {single['max_ms']:.1f} ms, "
                f"{single['over_20_ms']} over 20 ms",
                file=sys.stderr,
            )
            for ms, label in single["slowest"]:
                print(f"  {ms:8.1f} ms  {label}", file=sys.stderr)
        report = mixed(port, server.pid, found, args)
        every = report["labels"]["all"]
        latency = every["latency_ms"]
        print(
            f"mixed at {args.rate:g} req/s: p50 {latency['p50']:.1f} p95 {latency['p95']:.1f} "
            f"p99 {latency['p99']:.1f} ms, {every['ok']}/{report['scheduled']} ok",
            file=sys.stderr,
        )
        cpu = report["cpu"]
        print(
            f"CPU, % of one core: service {cpu['service_cpu_percent']}, database backends "
            f"{cpu['database_cpu_percent']}; the machine {cpu['machine_busy_percent']} % busy"
            f" ({os.cpu_count()} cores)",
            file=sys.stderr,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "started": started.isoformat(),
        "machine": platform.node(),
        "load_average": os.getloadavg(),
        "machine_speed_s": speed,
        "filters": filters,
        "single_client": single,
        "mixed": report,
    }
    name = f"{started:%Y%m%dT%H%M%SZ}.json"
    (args.output_dir / name).write_text(json.dumps(result, indent=2, default=str))


def asyncio_run(coroutine: Any) -> Any:
    import asyncio

    return asyncio.run(coroutine)


if __name__ == "__main__":
    main()
