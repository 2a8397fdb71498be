"""pgbench over the service's statements (bench/sandbox/statements.py): run it, read what it says.

pgbench runs with ``-M prepared`` (as asyncpg prepares the service's statements), ``-r`` (each
command's average latency and failures) and ``--log`` (one line per transaction: which script,
how long), from which :func:`transactions_over_time` draws the latency percentiles over time;
``--aggregate-interval`` would give only the mean, minimum and maximum, and not per script.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import latency
from cluster import binary
from sqlalchemy.engine import make_url

from statements import CREATED_NAME, PICK_EXPERIMENTS, PICK_RUNS, PICK_RUNS_SIZE, Script

# Built from this module's constants only.
_PICK_TABLES = (
    f"DROP TABLE IF EXISTS {PICK_RUNS}, {PICK_EXPERIMENTS}",
    f"CREATE TABLE {PICK_RUNS} AS SELECT row_number() OVER () AS k, id"  # noqa: S608
    f" FROM (SELECT id FROM runs ORDER BY random() LIMIT {PICK_RUNS_SIZE}) AS picked",
    f"ALTER TABLE {PICK_RUNS} ADD PRIMARY KEY (k)",
    f"CREATE TABLE {PICK_EXPERIMENTS} AS SELECT row_number() OVER (ORDER BY id) AS k, id"  # noqa: S608
    " FROM experiments WHERE status IN ('draft', 'running')",
    f"ALTER TABLE {PICK_EXPERIMENTS} ADD PRIMARY KEY (k)",
    f"ANALYZE {PICK_RUNS}, {PICK_EXPERIMENTS}",
)


@dataclass(frozen=True)
class PgbenchRun:
    clients: int
    threads: int
    seconds: int
    rate: float | None  # transactions/s over all clients (pgbench -R); None: as fast as it can


async def _pick_tables(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        for statement in _PICK_TABLES:
            await connection.execute(statement)
        await connection.execute("VACUUM (ANALYZE)")
        runs = await connection.fetchval(f"SELECT count(*) FROM {PICK_RUNS}")  # noqa: S608
        experiments = await connection.fetchval(
            f"SELECT count(*) FROM {PICK_EXPERIMENTS}"  # noqa: S608
        )
    finally:
        await connection.close()
    if not runs or not experiments:
        raise RuntimeError("the seeded database has no runs or no open experiment")
    return {"run_count": int(runs), "experiment_count": int(experiments)}


def prepare(url: str) -> dict[str, int]:
    """The tables the scripts pick random runs and open experiments from; their sizes."""
    return asyncio.run(_pick_tables(url))


def command(
    url: str, scripts: list[Script], directory: Path, spec: PgbenchRun, counts: dict[str, int]
) -> tuple[list[str], dict[str, str]]:
    """The pgbench command line (script files written into ``directory``) and its environment."""
    parsed = make_url(url)
    args = [
        str(binary("pgbench")), "--no-vacuum", "--protocol=prepared", "--report-per-command",
        f"--client={spec.clients}", f"--jobs={spec.threads}", f"--time={spec.seconds}",
        "--log", f"--log-prefix={directory / 'log'}",
        f"--host={parsed.host or '127.0.0.1'}", f"--port={parsed.port or 5432}",
        f"--username={parsed.username or 'postgres'}",
    ]  # fmt: skip
    if spec.rate is not None:
        args.append(f"--rate={spec.rate}")
    for name, value in counts.items():
        args.append(f"--define={name}={value}")
    for script in scripts:
        path = directory / f"{script.name}.sql"
        path.write_text(script.text())
        args.append(f"--file={path}@{script.weight}")
        args += [f"--define={name}={value}" for name, value in script.defines.items()]
    args.append(parsed.database or "postgres")
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return args, env


def run(
    url: str, scripts: list[Script], directory: Path, spec: PgbenchRun, counts: dict[str, int]
) -> dict[str, Any]:
    """Run pgbench; its summary (per script, per command) and the percentiles over time."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("log*"):
        old.unlink()
    args, env = command(url, scripts, directory, spec, counts)
    done = subprocess.run(  # noqa: S603 - the machine's pgbench
        args, capture_output=True, text=True, env=env, timeout=spec.seconds + 120, check=False
    )
    (directory / "pgbench.out").write_text(done.stdout + done.stderr)
    summary = parse_summary(done.stdout, [script.name for script in scripts])
    summary["exit_code"] = done.returncode
    summary["aborted"] = "aborted" in done.stdout + done.stderr
    summary["stderr_tail"] = done.stderr[-2000:]
    transactions = read_logs(directory)
    summary["over_time"] = transactions_over_time(transactions, [s.name for s in scripts])
    overall = whole_run_percentiles(transactions, [s.name for s in scripts])
    for name, figures in overall.items():
        summary["scripts"].setdefault(name, {}).update(figures)
    return summary


_SCRIPT_HEAD = re.compile(r"^SQL script (\d+): (.+)$")
_WEIGHT = re.compile(r"^ - weight: (\d+)")
_TRANSACTIONS = re.compile(r"^ - (\d+) transactions \(.*tps = ([\d.]+)\)")
_FAILED = re.compile(r"^ - number of failed transactions: (\d+)")
_LATENCY = re.compile(r"^ - latency average = ([\d.]+) ms")
_COMMAND = re.compile(r"^\s+([\d.]+)\s+(\d+)\s+(.*)$")
_COMMAND_NO_FAILURES = re.compile(r"^\s+([\d.]+)\s+(\S.*)$")
_TOTAL_TPS = re.compile(r"^tps = ([\d.]+)")
_TOTAL_FAILED = re.compile(r"^number of failed transactions: (\d+)")


def parse_summary(output: str, names: list[str]) -> dict[str, Any]:
    """pgbench's report: the total TPS and failures, and per script its transactions, TPS,
    failures, mean latency and each command's mean latency and failures."""
    result: dict[str, Any] = {"tps": None, "failed": None, "scripts": {}}
    current: dict[str, Any] | None = None
    for line in output.splitlines():
        if match := _TOTAL_TPS.match(line):
            result["tps"] = float(match.group(1))
        elif match := _TOTAL_FAILED.match(line):
            result["failed"] = int(match.group(1))
        elif match := _SCRIPT_HEAD.match(line):
            current = {"commands": []}
            result["scripts"][names[int(match.group(1)) - 1]] = current
        elif current is None:
            continue
        elif match := _WEIGHT.match(line):
            current["weight"] = int(match.group(1))
        elif match := _TRANSACTIONS.match(line):
            current["transactions"] = int(match.group(1))
            current["tps"] = float(match.group(2))
        elif match := _FAILED.match(line):
            current["failed"] = int(match.group(1))
        elif match := _LATENCY.match(line):
            current["latency_avg_ms"] = float(match.group(1))
        elif match := _COMMAND.match(line):
            current["commands"].append(
                {"ms": float(match.group(1)), "failures": int(match.group(2)),
                 "command": match.group(3)[:120]}
            )  # fmt: skip
        elif match := _COMMAND_NO_FAILURES.match(line):
            current["commands"].append(
                {"ms": float(match.group(1)), "failures": 0, "command": match.group(2)[:120]}
            )
    return result


async def _created_runs(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT status, count(*) AS runs FROM runs WHERE name = $1 GROUP BY status",
            CREATED_NAME,
        )
    finally:
        await connection.close()
    return {row["status"]: int(row["runs"]) for row in rows}


def check_writes(url: str, summary: dict[str, Any], clients: int) -> dict[str, Any]:
    """What the scripts left behind against what they ran: every create script leaves a draft
    run, every transition script a finished one (a refused transition is no SQL error, so
    pgbench alone would not notice it). When the time is up pgbench stops each client where it
    is, so up to one script per client may have been cut short after a commit: a draft or a
    running run more, or a finished run it did not count."""
    created = asyncio.run(_created_runs(url))
    scripts = summary["scripts"]
    expected = {
        "draft": scripts.get("create", {}).get("transactions", 0),
        "running": 0,
        "finished": scripts.get("transition", {}).get("transactions", 0),
    }
    found = {status: created.get(status, 0) for status in expected}
    extra = {status: found[status] - expected[status] for status in expected}
    unexpected = {s: n for s, n in created.items() if s not in expected}
    cut_short = sum(extra.values())
    ok = not unexpected and min(extra.values()) >= 0 and cut_short <= clients
    return {"expected": expected, "found": found, "cut_short": cut_short, "ok": ok}


@dataclass(frozen=True, slots=True)
class Transaction:
    script: int
    second: float  # when it ended, in seconds since the epoch
    latency_ms: float | None  # None: failed


def read_logs(directory: Path) -> list[Transaction]:
    """pgbench's per-transaction logs: ``client_id transaction_no time script_no time_epoch
    time_us [schedule_lag …]``; ``time`` is microseconds, or ``failed``/``skipped``."""
    transactions = []
    for path in sorted(directory.glob("log*")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            latency = float(fields[2]) / 1000 if fields[2].isdigit() else None
            ended = int(fields[4]) + int(fields[5]) / 1e6
            transactions.append(Transaction(int(fields[3]), ended, latency))
    return transactions


def transactions_over_time(
    transactions: list[Transaction], names: list[str]
) -> dict[str, dict[str, object]]:
    """Per script: latency percentiles per window of the run (:func:`latency.over_time`)."""
    if not transactions:
        return {}
    start = min(t.second for t in transactions)
    samples: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in transactions:
        if t.latency_ms is not None:
            samples[names[t.script]].append((t.second - start, t.latency_ms))
    return latency.over_time(samples)


def whole_run_percentiles(
    transactions: list[Transaction], names: list[str]
) -> dict[str, dict[str, Any]]:
    by_script: dict[int, list[float]] = defaultdict(list)
    failed: dict[int, int] = defaultdict(int)
    for t in transactions:
        if t.latency_ms is None:
            failed[t.script] += 1
        else:
            by_script[t.script].append(t.latency_ms)
    return {
        names[script]: {"logged": latency.summarise(latencies), "logged_failed": failed[script]}
        for script, latencies in by_script.items()
    }
