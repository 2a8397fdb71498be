#!/usr/bin/env python3
"""Benchmark the service over HTTP: latency at a fixed rate, and maximum throughput.

    python bench/run.py                       # the full run recorded in docs/performance.md
    python bench/run.py --runs 300 --duration 1 --warmup 0 --wrk-seconds 1   # a quick check

Creates a fresh database on the PostgreSQL server at --server-url, migrates and seeds it
(`expsvc seed`), starts `expsvc serve --workers 2` on it with logging at WARNING, prepares id
pools, then for each scenario:

* latency at --rate req/s with bench/openloop (open loop: measured from each request's
  scheduled send time, so a stall is charged to every request it delays);
* maximum throughput with wrk (closed loop, --wrk-connections keep-alive connections) and
  again with a new connection per request (wrk -H "Connection: close").

Then it stops the service and runs the same wrk scripts for get, create and transition against
bench/reference_app.py (bare FastAPI + asyncpg running the service's own statements): the
service's req/s over the reference's is the share of the stack's ceiling it reaches.

Prints a table, writes everything to bench/results/<time>/results.json and drops the database
(unless --keep-database). Needs wrk (apt-get install wrk) unless --skip-wrk, and a C compiler.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from scenarios import (
    OPEN_LOOP_SCENARIOS,
    WRK_SCENARIOS,
    Pools,
    RequestFactory,
    list_queries,
    transitions_needed,
    write_request_file,
    write_wrk_data,
)
from sqlalchemy.engine import make_url
from tools import (
    CpuMeter,
    OpenLoopRun,
    WrkRun,
    build_openloop,
    database_backends,
    machine_speed,
    nodelay_check,
    run_openloop,
    run_wrk,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
START_DEADLINE = 60.0
# What bench/reference_app.py serves (the transition scenario's creates included).
REFERENCE_SCENARIOS = ("get", "create", "transition")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add(
        "--server-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (any database; a fresh one is created beside it)",
    )
    add("--experiments", type=int, default=50, help="seeded experiments")
    add("--runs", type=int, default=50_000, help="seeded runs")
    add("--workers", type=int, default=2, help="expsvc serve --workers")
    add("--rate", type=float, default=200, help="open-loop requests/s")
    add("--duration", type=float, default=30, help="open-loop measured seconds per scenario")
    add("--warmup", type=float, default=5, help="open-loop seconds sent before measuring")
    add("--wrk-seconds", type=int, default=10, help="wrk -d per scenario and mode")
    add("--wrk-connections", type=int, default=16)
    add("--wrk-threads", type=int, default=2)
    add(
        "--scenarios",
        default=",".join(OPEN_LOOP_SCENARIOS),
        help="comma-separated subset of " + ", ".join(OPEN_LOOP_SCENARIOS),
    )
    add(
        "--no-idempotency-keys",
        dest="idempotency",
        action="store_false",
        help="send POSTs without an Idempotency-Key (default: a unique key on every POST)",
    )
    add("--skip-wrk", action="store_true", help="only the open-loop latency runs")
    add("--skip-openloop", action="store_true", help="only the wrk throughput runs")
    add(
        "--reference-scenarios",
        default=",".join(REFERENCE_SCENARIOS),
        help="wrk scenarios also run against bench/reference_app.py (bare FastAPI + asyncpg"
        " running the service's statements), the ceiling of the stack; a subset of "
        + ", ".join(REFERENCE_SCENARIOS)
        + "; empty: none",
    )
    add(
        "--source-ref",
        help="serve this git commit's src/ (exported with git archive) instead of the work tree",
    )
    add(
        "--template-database",
        help="copy this database (already at the schema head, e.g. the test suite's template)"
        " instead of migrating an empty one",
    )
    add("--keep-database", action="store_true")
    add(
        "--service-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for expsvc serve (repeatable), e.g. EXPSVC_RELAY_ENABLED=false"
        " to measure what the in-process relay costs",
    )
    add(
        "--identity",
        choices=("none", "header"),
        default="none",
        help="none: identity off, the caller is the local admin (the default); header: the"
        " service believes X-User from 127.0.0.1 and every request names a principal that is"
        " no admin and holds editor on every experiment (the grant checks do their work)",
    )
    add(
        "--share-rounds",
        type=int,
        default=0,
        help="after the runs above, measure the reference scenarios' shares again with the"
        " service and the reference app both up, their wrk runs alternated this many times per"
        " scenario and mode (the machine's speed drifts within minutes: a share from runs"
        " minutes apart moves with it); 0: not",
    )
    add("--output-dir", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args(argv)


def admin_url(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _admin(url: str, *statements: str) -> list[Any]:
    connection = await asyncpg.connect(admin_url(url), timeout=10)
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


@contextlib.contextmanager
def fresh_database(server_url: str, template: str | None, keep: bool) -> Iterator[str]:
    name = f"expsvc_bench_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(3)}"
    copy = f' TEMPLATE "{template}"' if template else ""
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield admin_url(server_url, name)
    finally:
        if keep:
            print(f"kept database {name}", file=sys.stderr)
        else:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# An external database needs secret keys (docs/runbook.md); the benchmark's database is thrown
# away, so one key made per run will do.
_SECRET_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()


BENCH_PRINCIPAL = "bench-user"
_GRANT_BENCH_PRINCIPAL = (
    "INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by) "
    "SELECT id, 'principal:bench-user', 'editor', 'bench' FROM experiments ON CONFLICT DO NOTHING"
)


def identity_setup(identity: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the service's extra environment, the headers every request carries) for ``identity``."""
    if identity == "none":
        return {}, {}
    env = {
        "EXPSVC_AUTH_MODE": "header",
        "EXPSVC_IDENTITY_HEADER": "X-User",
        "EXPSVC_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    return env, {"X-User": BENCH_PRINCIPAL}


async def grant_bench_principal(database_url: str) -> None:
    """Editor on every experiment for the benchmark's principal (not an admin)."""
    await _admin(database_url, _GRANT_BENCH_PRINCIPAL)


def service_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
    return env | {
        "EXPSVC_DATABASE_URL": database_url,
        "EXPSVC_LOG_LEVEL": "WARNING",
        "EXPSVC_SECRET_KEYS": _SECRET_KEY,
    }


def expsvc(database_url: str, log: Path, *args: str) -> None:
    with log.open("ab") as sink:
        subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "expsvc", *args],
            env=service_env(database_url),
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=True,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server(
    command: list[str], env: dict[str, str], ready: str, log: Path
) -> Iterator[tuple[int, int]]:
    """Runs ``command`` (plus ``--port``) until ``ready`` answers 2xx; yields (port, pid)."""
    port = free_port()
    with log.open("ab") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            [*command, "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        until = time.monotonic() + START_DEADLINE
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[2]} exited with {process.returncode}; see {log}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=2).is_success:
                    break
            if time.monotonic() > until:
                raise RuntimeError(f"{command[2]} was not ready in {START_DEADLINE}s; see {log}")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def serve(
    database_url: str, workers: int, log: Path, extra_env: dict[str, str]
) -> Iterator[tuple[int, int]]:
    """``expsvc serve`` on a free port until ready; yields (port, pid)."""
    command = [sys.executable, "-m", "expsvc", "serve", "--workers", str(workers)]
    env = service_env(database_url) | extra_env
    with _server(command, env, "/health/ready", log) as (port, pid):
        yield port, pid


@contextlib.contextmanager
def reference(database_url: str, workers: int, log: Path) -> Iterator[tuple[int, int]]:
    """bench/reference_app.py (bare FastAPI + asyncpg) under uvicorn; yields (port, pid)."""
    command = [sys.executable, "-m", "uvicorn", "reference_app:app", "--app-dir", str(BENCH)]
    command += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    env = service_env(database_url) | {"EXPSVC_REFERENCE_DATABASE_URL": database_url}
    with _server(command, env, "/openapi.json", log) as (port, pid):
        yield port, pid


async def prepare_pools(
    database_url: str, port: int, drafts: int, running: int, headers: dict[str, str]
) -> Pools:
    """Run and experiment ids from the database; drafts and running runs made over the API."""
    rows = await _admin(
        database_url,
        "SELECT id FROM runs ORDER BY random() LIMIT 10000",
        "SELECT id FROM experiments WHERE status IN ('draft', 'running') ORDER BY id",
    )
    pools = Pools(
        runs=[str(row["id"]) for row in rows[0]],
        experiments=[str(row["id"]) for row in rows[1]],
        lists=list_queries(),
    )
    if not pools.runs or not pools.experiments:
        raise RuntimeError("the seeded database has no runs or no open experiment")
    limits = httpx.Limits(max_connections=8)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=30, headers=headers
    ) as client:
        gate = asyncio.Semaphore(8)

        async def draft(index: int, start: bool) -> tuple[str, bool]:
            experiment = pools.experiments[index % len(pools.experiments)]
            body = {"name": f"bench-pool-{index}", "tags": ["bench"]}
            async with gate:
                created = await client.post(f"/v1/experiments/{experiment}/runs", json=body)
                created.raise_for_status()
                run_id = str(created.json()["id"])
                if start:
                    (await client.post(f"/v1/runs/{run_id}/start")).raise_for_status()
            return run_id, start

        made = await asyncio.gather(
            *(draft(index, index >= drafts) for index in range(drafts + running))
        )
    pools.drafts = [run_id for run_id, started in made if not started]
    pools.running = [run_id for run_id, started in made if started]
    await _admin(database_url, "VACUUM (ANALYZE)")
    return pools


def export_source(ref: str, directory: Path) -> None:
    """Serve ``ref``'s src/ instead of the work tree: its export goes first on PYTHONPATH, which
    the service processes inherit (an editable install only appends the work tree)."""
    git = shutil.which("git") or "git"
    archive = subprocess.run(  # noqa: S603 - fixed arguments
        [git, "-C", str(ROOT), "archive", "--format=tar", ref, "src"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(directory / "src"), os.environ.get("PYTHONPATH")])
    )


def versions(server_url: str, source_ref: str | None) -> dict[str, str]:
    from importlib.metadata import version

    def command(*args: str) -> str:
        try:
            done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError:
            return "not found"
        lines = (done.stdout + done.stderr).strip().splitlines()
        return lines[0] if lines else ""  # e.g. `git status --porcelain` on a clean tree

    packages = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg")
    server = asyncio.run(_admin(server_url, "SHOW server_version"))[0][0][0]
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    git = ["git", "-C", str(ROOT)]
    return {
        "machine": f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}",
        "python": platform.python_version(),
        "postgresql": server,
        "wrk": command(shutil.which("wrk") or "wrk", "-v"),
        "commit": (
            f"{command(*git, 'rev-parse', '--short', source_ref)} (git archive of {source_ref})"
            if source_ref
            else command(*git, "rev-parse", "--short", "HEAD")
            + (
                " + uncommitted changes in src/"
                if command(*git, "status", "--porcelain", "src")
                else ""
            )
        ),
        **{name: version(name) for name in packages},
    }


class Phases:
    """Wall-clock seconds of each step, kept in the results."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._mark, 2)
        self._mark = now


def run_scenarios(
    args: argparse.Namespace, out: Path, database_url: str, phases: Phases
) -> dict[str, Any]:
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(scenarios) - set(OPEN_LOOP_SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    wrk = None if args.skip_wrk else shutil.which("wrk")
    if not args.skip_wrk and wrk is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or pass --skip-wrk")
    openloop = None if args.skip_openloop else build_openloop(args.output_dir / "bin")
    nonce = secrets.token_hex(4)
    total = int(args.rate * (args.warmup + args.duration))
    transitions = 0 if args.skip_openloop else sum(transitions_needed(s, total) for s in scenarios)
    results: dict[str, Any] = {"openloop": {}, "wrk": {}}
    identity_env, headers = identity_setup(args.identity)
    if headers:
        asyncio.run(grant_bench_principal(database_url))
    extra_env = identity_env | dict(item.split("=", 1) for item in args.service_env)
    with serve(database_url, args.workers, out / "serve.log", extra_env) as (port, pid):
        phases.done("serve start")
        half = transitions // 2 + 1
        pools = asyncio.run(prepare_pools(database_url, port, half, half, headers))
        phases.done("prepare pools")
        first = f"/v1/runs/{pools.runs[0]}"
        nodelay_check(port, first, requests=5 * args.workers, headers=headers)  # warm
        results["nodelay"] = nodelay_check(port, first, headers=headers)
        phases.done("nodelay check")
        meter = CpuMeter(pid, database_backends(database_url))
        factory = RequestFactory(pools, nonce, args.idempotency)
        for scenario in [] if openloop is None else scenarios:
            close = scenario == "get-new-connection"
            path = out / f"openloop-{scenario}.req"
            requests = factory.scenario(scenario, total)
            write_request_file(path, requests, f"127.0.0.1:{port}", close, headers)
            spec = OpenLoopRun(args.rate, args.duration, args.warmup, keep_alive=not close)
            meter.start()
            report = run_openloop(openloop, port, path, spec)
            report["cpu"] = meter.stop()
            results["openloop"][scenario] = report
            print(f"openloop {scenario}: {brief_openloop(report)}", file=sys.stderr)
            phases.done(f"openloop {scenario}")
        data_dir = out / "wrk-data"
        write_wrk_data(data_dir, pools)
        if wrk is not None:
            wrk_scenarios = [s for s in scenarios if s in WRK_SCENARIOS]
            results["wrk"] = throughput(
                args, wrk, meter, port, data_dir, wrk_scenarios, args.idempotency, phases,
                headers=headers,
            )  # fmt: skip
    ceiling = [s.strip() for s in args.reference_scenarios.split(",") if s.strip()]
    if not set(ceiling) <= set(REFERENCE_SCENARIOS):
        raise SystemExit(
            "the reference app serves only the " + ", ".join(REFERENCE_SCENARIOS) + " scenarios"
        )
    if wrk is not None and ceiling:
        with reference(database_url, args.workers, out / "reference.log") as (port, pid):
            phases.done("reference start")
            meter = CpuMeter(pid, database_backends(database_url))
            # With the same Idempotency-Key setting: the reference claims and stores keys too.
            results["reference"] = throughput(
                args, wrk, meter, port, data_dir, ceiling, args.idempotency, phases, "reference "
            )
        results["service_share_of_ceiling"] = ceiling_shares(results)
    if wrk is not None and ceiling and args.share_rounds > 0:
        with (
            serve(database_url, args.workers, out / "serve.log", extra_env) as (port, pid),
            reference(database_url, args.workers, out / "reference.log") as (ref_port, ref_pid),
        ):
            phases.done("paired start")
            servers = {
                "service": (port, CpuMeter(pid, database_backends(database_url)), headers),
                "reference": (ref_port, CpuMeter(ref_pid, database_backends(database_url)), None),
            }
            results["paired_shares"] = paired_shares(args, wrk, servers, data_dir, ceiling, phases)
    return results


def paired_shares(
    args: argparse.Namespace,
    wrk: str,
    servers: dict[str, tuple[int, CpuMeter, dict[str, str] | None]],
    data_dir: Path,
    scenarios: list[str],
    phases: Phases,
) -> dict[str, dict[str, dict[str, Any]]]:
    """The service's and the reference's wrk runs alternated ``--share-rounds`` times per
    scenario and mode, both servers up (the one not measured idles); per round the share, and
    their median: the two sides of each share measured seconds apart, not minutes."""
    paired: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario in scenarios:
        for mode in ("keep_alive", "new_connection"):
            rounds = []
            for _ in range(args.share_rounds):
                rps = {}
                for side, (port, meter, headers) in servers.items():
                    spec = wrk_spec(args, scenario, mode)
                    nonce = f"{secrets.token_hex(4)}-{side}-{scenario}-{mode}"
                    meter.start()
                    summary = run_wrk(wrk, port, data_dir, spec, args.idempotency, nonce, headers)
                    meter.stop()
                    rps[side] = summary["rps"]
                share = rps["service"] / rps["reference"] if rps["reference"] else 0.0
                rounds.append(rps | {"share": round(share, 3)})
            median = statistics.median(r["share"] for r in rounds)
            paired.setdefault(scenario, {})[mode] = {"rounds": rounds, "median_share": median}
            shares = ", ".join(f"{r['share']:.0%}" for r in rounds)
            print(f"paired {scenario} {mode}: {shares}; median {median:.0%}", file=sys.stderr)
            phases.done(f"paired {scenario} {mode}")
    return paired


def ceiling_shares(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Service req/s over reference req/s, per scenario and wrk mode, where both ran."""
    shares: dict[str, dict[str, float]] = {}
    for scenario, modes in results.get("reference", {}).items():
        for mode, ceiling in modes.items():
            service = results["wrk"].get(scenario, {}).get(mode)
            if service is not None and ceiling["rps"]:
                shares.setdefault(scenario, {})[mode] = round(service["rps"] / ceiling["rps"], 3)
    return shares


def wrk_spec(args: argparse.Namespace, scenario: str, mode: str) -> WrkRun:
    """One wrk run of ``scenario`` as the arguments say; ``mode``: keep_alive or new_connection."""
    return WrkRun(
        scenario,
        args.wrk_seconds,
        args.wrk_connections,
        args.wrk_threads,
        new_connection=mode == "new_connection",
    )


def throughput(
    args: argparse.Namespace,
    wrk: str,
    meter: CpuMeter,
    port: int,
    data_dir: Path,
    scenarios: list[str],
    idempotency: bool,
    phases: Phases,
    label: str = "",
    headers: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """wrk on each scenario, with keep-alive connections and then a new one per request."""
    results: dict[str, dict[str, Any]] = {}
    for scenario in scenarios:
        for mode in ("keep_alive", "new_connection"):
            spec = wrk_spec(args, scenario, mode)
            # Idempotency keys and run names must never repeat across wrk runs.
            nonce = f"{secrets.token_hex(4)}-{scenario}-{mode}"
            meter.start()
            summary = run_wrk(wrk, port, data_dir, spec, idempotency, nonce, headers)
            summary["cpu"] = meter.stop()
            results.setdefault(scenario, {})[mode] = summary
            print(f"{label}wrk {scenario} {mode}: {summary['rps']} req/s", file=sys.stderr)
            phases.done(f"{label}wrk {scenario} {mode}")
    return results


def brief_openloop(report: dict[str, Any]) -> str:
    every = report["labels"]["all"]
    latency = every["latency_ms"]
    return (
        f"p50 {latency['p50']:.1f} p95 {latency['p95']:.1f} p99 {latency['p99']:.1f} ms, "
        f"{every['ok']}/{report['scheduled']} ok, generator CPU {report['cpu_percent']:.1f}%"
    )


def table(results: dict[str, Any]) -> str:
    rate = next(iter(results["openloop"].values()), {}).get("rate", 0)
    head = (
        f"{'scenario':<20} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'ok/sent':>12} "
        f"{'gen CPU':>8} {'svc CPU':>8} {'db CPU':>7}  {'max req/s keep-alive':>21} "
        f"{'max req/s new conn':>19}"
    )
    lines = [
        f"latency at {rate:g} req/s (open loop; CPU: the generator's share of a core, the"
        " service's and the database's per request) and maximum throughput (wrk)",
        head,
    ]
    names = list(results["openloop"]) + [s for s in results["wrk"] if s not in results["openloop"]]
    for name in names:
        report = results["openloop"].get(name)
        cells = ["", "", "", "", "", "", ""]
        if report is not None:
            every = report["labels"]["all"]
            latency = every["latency_ms"]
            cells = [
                f"{latency['p50']:.1f}",
                f"{latency['p95']:.1f}",
                f"{latency['p99']:.1f}",
                f"{every['ok']}/{report['scheduled']}",
                f"{report['cpu_percent']:.1f}%",
                f"{cpu_ms(report, 'service'):.2f}ms",
                f"{cpu_ms(report, 'database'):.2f}ms",
            ]
        throughput = results["wrk"].get(name, {})
        keep = throughput.get("keep_alive")
        fresh = throughput.get("new_connection")
        lines.append(
            f"{name:<20} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} {cells[3]:>12} {cells[4]:>8} "
            f"{cells[5]:>8} {cells[6]:>7}  "
            f"{_wrk_cell(keep):>21} {_wrk_cell(fresh):>19}"
        )
    shares = ceiling_shares(results)
    for name, throughput in results.get("reference", {}).items():
        keep, fresh = throughput.get("keep_alive"), throughput.get("new_connection")
        label = f"ceiling {name}"
        share = shares.get(name, {})
        lines.append(
            f"{label:<20} {'':>67}  {_wrk_cell(keep):>21} {_wrk_cell(fresh):>19}"
            f"  service/ceiling {_share_cell(share.get('keep_alive'))}"
            f" / {_share_cell(share.get('new_connection'))}"
        )
    if "reference" in results:
        lines.append(
            "(ceiling: bench/reference_app.py, bare FastAPI + asyncpg running the service's"
            " statements, same database; service/ceiling: keep-alive / new connection req/s)"
        )
    for name, modes in results.get("paired_shares", {}).items():
        cells = [
            f"{mode.replace('_', '-')} {_paired_cell(paired)}" for mode, paired in modes.items()
        ]
        lines.append(f"paired share {name:<8} " + "; ".join(cells))
    nodelay = results.get("nodelay")
    if nodelay:
        lines.append(
            f"TCP_NODELAY check: 1st request {nodelay['first_ms']} ms, reused connection p50 "
            f"{nodelay['reused_p50_ms']} ms (max {nodelay['reused_max_ms']}), new connection "
            f"p50 {nodelay['new_connection_p50_ms']} ms"
            + ("  <-- Nagle suspected" if nodelay["nagle_suspected"] else "")
        )
    return "\n".join(lines)


def cpu_ms(report: dict[str, Any], who: str) -> float:
    """CPU milliseconds per answered request (open loop) of the service or the database.

    The meter spans the warm-up and the measured window while ``responses`` counts the
    measured window only, so the answers are scaled to the whole span (the warm-up runs at the
    same rate); dividing by the measured answers alone read 7/6 too high with the defaults.
    """
    cpu = report["cpu"]
    measured = report["labels"]["all"]["responses"]
    duration = report["duration_s"]
    answered = measured * (report["warmup_s"] + duration) / duration if duration else measured
    seconds = cpu[f"{who}_cpu_percent"] / 100 * cpu["wall_s"]
    return 1000 * seconds / answered if answered else 0.0


def _wrk_cell(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return ""
    failed = f" ({summary['failed']} failed)" if summary["failed"] else ""
    return f"{summary['rps']:.0f}{failed}"


def _paired_cell(paired: dict[str, Any]) -> str:
    rounds = ", ".join(f"{r['share']:.0%}" for r in paired["rounds"])
    return f"{rounds} (median {paired['median_share']:.0%})"


def _share_cell(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.output_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    if args.source_ref:
        export_source(args.source_ref, out / "source")
    phases = Phases()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine_speed_s": {"before": machine_speed()},
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "versions": versions(args.server_url, args.source_ref),
        "phase_seconds": phases.seconds,
    }
    with fresh_database(args.server_url, args.template_database, args.keep_database) as url:
        database_url = url
        if args.template_database is None:
            expsvc(database_url, out / "setup.log", "db", "upgrade")
        phases.done("create + migrate database")
        seed = ("--experiments", str(args.experiments), "--runs", str(args.runs))
        expsvc(database_url, out / "setup.log", "seed", *seed)
        phases.done("seed")
        results |= run_scenarios(args, out, database_url, phases)
    phases.done("stop + drop database")
    results["machine_speed_s"]["after"] = machine_speed()
    results["total_seconds"] = round(sum(phases.seconds.values()), 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    speed = results["machine_speed_s"]
    print(
        f"machine speed: 10M Python additions in {speed['before']} s before, {speed['after']} s"
        " after (0.8 s and 1.7 s were both seen here within an hour; compare runs by their"
        " shares of the ceiling)"
    )
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
