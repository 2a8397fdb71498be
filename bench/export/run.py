#!/usr/bin/env python3
"""Benchmark exports over HTTP: rows per second and the server's memory over a whole export.

    python bench/export/run.py                        # 1,000,000 runs (docs/performance.md)
    python bench/export/run.py --runs 100000          # a shorter run
    python bench/export/run.py --runs 500 --formats jsonl   # a quick check

Creates a fresh database on --server-url, migrates it, seeds --runs runs in --experiments
experiments with `expsvc seed`'s module (set-based, inside PostgreSQL), VACUUM ANALYZEs it and
starts `expsvc serve` on it (one worker, logging at WARNING, identity off: the caller is an admin
and exports everything). Then, per format:

1. a warm-up export of the experiments, after which the server's RSS is the baseline;
2. `GET /v1/runs/export?format=F` read to the end by curl into /dev/null (a C client leaves the
   cores to the server), while this script samples the server process's RSS every 20 ms
   (/proc/<pid>/status, VmRSS);
3. rows/s = runs / curl's total time (request sent → last byte); RSS growth = peak during the
   export - baseline. curl fails (exit 18) if the answer is cut short.

Prints a summary, writes bench/results/export/<name>.json (with the load average before and after:
figures from a busy machine are not evidence) and drops the database.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "export"  # ignored by git, like bench/results
START_DEADLINE = 60.0
FORMATS = ("jsonl", "csv", "json")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated")
    parser.add_argument("--fields", default=None, help="export only these fields")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args(argv)


def database_url(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


async def admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def secret_keys() -> str:
    # An external database needs secret keys; this benchmark's database is thrown away.
    return os.environ.get("EXPSVC_SECRET_KEYS") or base64.urlsafe_b64encode(os.urandom(32)).decode()


def prepare(url: str, runs: int, experiments: int) -> None:
    """Migrate and seed with the module of `expsvc seed`."""
    from expsvc.migrate import upgrade
    from expsvc.seed import SeedPlan, seed_demo_data
    from expsvc.settings import Settings

    upgrade(url)
    settings = Settings(database_url=url, secret_keys=secret_keys())  # type: ignore[call-arg]
    plan = SeedPlan(experiments=experiments, runs=runs, capture_ratio=0)
    started = time.monotonic()
    last = [0.0]

    def progress(done: int) -> None:
        if time.monotonic() - last[0] > 5 or done == runs:
            last[0] = time.monotonic()
            print(f"  seeded {done}/{runs} runs ({time.monotonic() - started:.0f} s)", flush=True)

    asyncio.run(seed_demo_data(settings, url, plan, progress))
    asyncio.run(admin(url, "VACUUM (ANALYZE)"))


def start_service(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXPSVC_DATABASE_URL": url,
        "EXPSVC_LOG_LEVEL": "WARNING",
        "EXPSVC_HOST": "127.0.0.1",
        "EXPSVC_PORT": str(port),
        "EXPSVC_WORKERS": "1",  # the server is this process: its RSS is the service's
        "EXPSVC_SECRET_KEYS": secret_keys(),
    }
    command = [sys.executable, "-m", "expsvc", "serve"]
    return subprocess.Popen(  # noqa: S603 - our own CLI
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def wait_ready(base: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"expsvc serve exited with {service.returncode}")
        try:
            if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class PeakRss:
    """The largest RSS of ``pid`` seen while the block runs, sampled every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid, self.interval = pid, interval
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))


def curl_export(url: str) -> tuple[float, int]:
    """Read ``url`` to the end: (seconds, bytes)."""
    command = ["curl", "--silent", "--show-error", "--fail", "--output", os.devnull]
    command += ["--write-out", "%{time_total} %{size_download}", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"export failed (curl {done.returncode}): {done.stderr.strip()}")
    seconds, size = done.stdout.split()
    return float(seconds), int(size)


def httpx_export(url: str) -> tuple[float, int]:
    started, size = time.perf_counter(), 0
    with httpx.stream("GET", url, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_raw(1 << 20):
            size += len(chunk)
    return time.perf_counter() - started, size


def measure(base: str, pid: int, runs: int, format: str, fields: str | None) -> dict[str, Any]:
    httpx.get(f"{base}/v1/experiments/export", timeout=60).raise_for_status()  # warm-up
    baseline = rss_bytes(pid)
    query = f"format={format}" + (f"&fields={fields}" if fields else "")
    read = curl_export if shutil.which("curl") else httpx_export
    with PeakRss(pid) as rss:
        seconds, size = read(f"{base}/v1/runs/export?{query}")
    after = rss_bytes(pid)
    return {
        "format": format,
        "rows": runs,
        "seconds": round(seconds, 3),
        "rows_per_second": round(runs / seconds),
        "megabytes": round(size / 1e6, 1),
        "rss_baseline_mb": round(baseline / 2**20, 1),
        "rss_peak_mb": round(rss.peak / 2**20, 1),
        "rss_growth_mb": round((rss.peak - baseline) / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
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


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    name = f"expsvc_exportbench_{datetime.now(UTC):%Y%m%d%H%M%S}"
    url = database_url(args.server_url, name)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(admin(args.server_url, f'CREATE DATABASE "{name}"'))
    results = []
    try:
        print(f"seeding {args.runs} runs into {name}", flush=True)
        prepare(url, args.runs, args.experiments)
        port = free_port()
        service = start_service(url, port, args.output_dir / f"{name}.serve.log")
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, service)
            for format in args.formats.split(","):
                result = measure(base, service.pid, args.runs, format, args.fields)
                results.append(result)
                print(json.dumps(result), flush=True)
        finally:
            service.terminate()
            service.wait(timeout=30)
    finally:
        if not args.keep_database:
            asyncio.run(admin(args.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    summary = {
        "runs": args.runs,
        "experiments": args.experiments,
        "fields": args.fields,
        "results": results,
        "machine": machine(load_before),
        "command": " ".join(["python", "bench/export/run.py", *sys.argv[1:]]),
        "time": datetime.now(UTC).isoformat(),
    }
    (args.output_dir / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    outcome = main(parse())
    load = outcome["machine"]["load_average_before"]
    print(f"{outcome['runs']} runs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}:")
    for line in outcome["results"]:
        print(
            f"  {line['format']:>5}: {line['rows_per_second']:>9,} rows/s "
            f"({line['seconds']} s, {line['megabytes']} MB), RSS growth "
            f"{line['rss_growth_mb']} MB (peak {line['rss_peak_mb']} MB)"
        )
