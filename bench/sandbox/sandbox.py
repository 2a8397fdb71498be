"""Load sandbox: seed N runs, pgbench the service's statements, then HTTP load with telemetry.

    bench/sandbox/run                                  # defaults: a couple of minutes
    bench/sandbox/run --runs 200000 --pgbench-seconds 60 --http-seconds 60
    bench/sandbox/run --server-url postgresql://postgres@127.0.0.1:5432/postgres  # that server

By default the database is a private PostgreSQL cluster started from the machine's own server
binaries (``pg_config --bindir``) in a temporary directory on a port of its own, and deleted at
the end, so the sandbox never touches other data; ``--server-url`` uses a fresh database
created beside that server's and dropped at the end instead. Steps:

1. migrate (``expsvc db upgrade``) and seed (``expsvc seed --runs N``);
2. pgbench with scripts holding the service's hot statements, compiled from expsvc
   (bench/sandbox/statements.py): get, create, transition and list pages with filters, weighted;
   then check the writes they left;
3. ``expsvc serve`` with a weighted mix at a fixed rate from bench/openloop, and signed
   telemetry replayed alongside (``expsvc telemetry replay``'s generator);
4. report.md (tables) and PNG plots of latency percentiles over time, plus results.json, in
   ``--output-dir/<time>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import http_load
import pgbench
import report
from cluster import private_cluster

import run as bench_run
import statements

ROOT = Path(__file__).resolve().parents[2]
# A little more memory than initdb's defaults, as a server for a service would have.
DEFAULT_PG_SETTINGS = {"shared_buffers": "256MB", "max_connections": "100"}


def weights(text: str) -> dict[str, int]:
    """``name=weight,name=weight`` as a dict."""
    pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
    return {name.strip(): int(weight) for name, weight in pairs}


def _joined(mapping: Mapping[str, int]) -> str:
    return ",".join(f"{name}={weight}" for name, weight in mapping.items())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    add = parser.add_argument
    add("--runs", type=int, default=20_000, help="seeded runs [20000]")
    add("--experiments", type=int, default=50, help="seeded experiments [50]")
    add("--server-url", help="use a fresh database on this PostgreSQL server instead of a"
        " private cluster")  # fmt: skip
    add("--pg-port", type=int, help="the private cluster's port [a free one]")
    add("--pg-setting", action="append", default=[], metavar="NAME=VALUE",
        help="a setting of the private cluster (repeatable); defaults: "
        + _joined(DEFAULT_PG_SETTINGS))  # type: ignore[arg-type]  # fmt: skip
    add("--pg-os-user", help="run the private cluster as this OS user [postgres under root]")
    add("--pgbench-seconds", type=int, default=30, help="[30]")
    add("--pgbench-clients", type=int, default=4, help="[4]")
    add("--pgbench-threads", type=int, default=2, help="[2]")
    add("--pgbench-rate", type=float, help="transactions/s in all (pgbench -R) [unlimited]")
    add("--pgbench-scripts", default=_joined(statements.DEFAULT_WEIGHTS),
        help="script=weight,... of " + ", ".join(statements.SCRIPT_NAMES))  # fmt: skip
    add("--http-seconds", type=float, default=30, help="measured seconds [30]")
    add("--http-warmup", type=float, default=5, help="[5]")
    add("--http-rate", type=float, default=200, help="requests/s, open loop [200]")
    add("--http-mix", default=_joined(http_load.DEFAULT_MIX),
        help="label=weight,... of get, create, transition and the list queries")  # fmt: skip
    add("--workers", type=int, default=2, help="expsvc serve --workers [2]")
    add("--telemetry-rate", type=float, default=20, help="telemetry requests/s [20]")
    add("--telemetry-batch", type=int, default=10, help="heartbeats per request [10]")
    add("--telemetry-sessions", type=int, default=20, help="capture sessions [20]")
    add("--skip-pgbench", action="store_true")
    add("--skip-http", action="store_true")
    add("--output-dir", type=Path, default=ROOT / "bench" / "results" / "sandbox")
    return parser.parse_args(argv)


@contextlib.contextmanager
def database(args: argparse.Namespace, out: Path) -> Iterator[tuple[str, str]]:
    """(the sandbox database's URL, what it is)."""
    if args.server_url:
        with bench_run.fresh_database(args.server_url, None, keep=False) as url:
            yield url, f"a fresh database on {args.server_url.rsplit('@', 1)[-1]}"
        return
    settings = DEFAULT_PG_SETTINGS | dict(item.split("=", 1) for item in args.pg_setting)
    port = args.pg_port or bench_run.free_port()
    with private_cluster(port, out / "cluster.log", settings, args.pg_os_user) as cluster:
        described = ", ".join(f"{k}={v}" for k, v in settings.items())
        yield cluster.url, f"private cluster on port {port}, {described}"


def run_pgbench(args: argparse.Namespace, url: str, out: Path) -> dict[str, Any]:
    counts = pgbench.prepare(url)
    experiment = _an_open_experiment(url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    scripts = statements.scripts(weights(args.pgbench_scripts), experiment, today)
    spec = pgbench.PgbenchRun(
        args.pgbench_clients, args.pgbench_threads, args.pgbench_seconds, args.pgbench_rate
    )
    summary = pgbench.run(url, scripts, out / "pgbench", spec, counts)
    return {
        "pgbench": summary,
        "pgbench_spec": vars(spec),
        "pgbench_writes": pgbench.check_writes(url, summary, spec.clients),
        "pgbench_scripts": {script.name: script.description for script in scripts},
    }


def _an_open_experiment(url: str) -> str:
    import asyncio

    [[row]] = asyncio.run(
        bench_run._admin(
            url,
            f"SELECT id FROM {statements.PICK_EXPERIMENTS} ORDER BY k LIMIT 1",  # noqa: S608
        )
    )
    return str(row["id"])


def run_http(args: argparse.Namespace, url: str, out: Path) -> dict[str, Any]:
    phase = http_load.HttpPhase(
        rate=args.http_rate, seconds=args.http_seconds, warmup=args.http_warmup,
        mix=weights(args.http_mix), workers=args.workers, telemetry_rate=args.telemetry_rate,
        telemetry_batch=args.telemetry_batch, telemetry_sessions=args.telemetry_sessions,
    )  # fmt: skip
    return {
        "http": http_load.run_phase(url, out, phase),
        "http_spec": {k: v for k, v in vars(phase).items() if k != "mix"} | {"mix": phase.mix},
        "telemetry_spec": {
            "rate": args.telemetry_rate,
            "batch": args.telemetry_batch,
            "sessions": args.telemetry_sessions,
        },
    }


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.output_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    phases = bench_run.Phases()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["bench/sandbox/run", *(sys.argv[1:] if argv is None else argv)]),
        "arguments": {k: str(v) for k, v in vars(args).items()},
        "load_before": _load(),
        "phase_seconds": phases.seconds,
    }
    with database(args, out) as (url, described):
        results["database"] = described
        results["versions"] = bench_run.versions(url, None)
        bench_run.expsvc(url, out / "setup.log", "db", "upgrade")
        phases.done("database + migrate")
        started = time.monotonic()
        seed = ("--experiments", str(args.experiments), "--runs", str(args.runs))
        bench_run.expsvc(url, out / "setup.log", "seed", *seed)
        results["seed"] = {
            "runs": args.runs,
            "experiments": args.experiments,
            "seconds": round(time.monotonic() - started, 1),
        }
        phases.done("seed")
        if not args.skip_pgbench:
            results |= run_pgbench(args, url, out)
            phases.done("pgbench")
        if not args.skip_http:
            results |= run_http(args, url, out)
            phases.done("http + telemetry")
    results["load_after"] = _load()
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    path = report.write(out, results)
    print(f"report: {path}")
    return 0 if _tooling_ok(results) else 1


def _tooling_ok(results: Mapping[str, Any]) -> bool:
    """False when pgbench could not run the service's statements as they are meant to run."""
    summary = results.get("pgbench")
    if summary is None:
        return True
    clean = summary["exit_code"] == 0 and not summary["failed"] and not summary["aborted"]
    return bool(clean and results["pgbench_writes"]["ok"])


if __name__ == "__main__":
    sys.exit(main())
