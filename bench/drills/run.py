#!/usr/bin/env python3
"""Run the operational drills: inject each failure under a small write load, recover by the
commands of docs/runbook.md's section, time it, and check that no acknowledged write was lost.

    python bench/drills/run.py                         # every drill
    python bench/drills/run.py --drill database-down   # some (repeat --drill)
    python bench/drills/run.py --list
    python bench/drills/run.py --write-runbook         # also record the figures in the runbook

Each drill runs on private PostgreSQL clusters (tests/pgcluster.py, the machine's server
binaries), a real `expsvc serve` and `expsvc worker` on loopback ports, and a private Redis or
receiver where it needs one. Results go to bench/drills/results.json (latest per drill); with
--write-runbook the runbook's drill tables are rendered from that file.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.drills import report  # noqa: E402
from bench.drills.catalogue import drills  # noqa: E402
from bench.drills.harness import make_template, stage  # noqa: E402
from tests.pgcluster import clusters  # noqa: E402


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def main() -> int:
    catalogue = drills()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drill", action="append", choices=sorted(catalogue), default=[])
    parser.add_argument("--list", action="store_true", help="print the drills and exit")
    parser.add_argument("--write-runbook", action="store_true")
    parser.add_argument("--results", type=Path, default=report.RESULTS)
    parser.add_argument(
        "--transcript", action="store_true", help="print the runbook commands run and their output"
    )
    args = parser.parse_args()
    if args.list:
        for drill in catalogue.values():
            print(f"{drill.name:<20} {drill.section}")
        return 0
    chosen = [catalogue[name] for name in args.drill] or list(catalogue.values())
    recorded = report.read(args.results)
    failed = []
    print(f"machine: {platform.node()}, {os.cpu_count()} cores; load before {load_average()}")
    with clusters():
        template = make_template()
        for drill in chosen:
            before = load_average()
            started = time.monotonic()
            try:
                with stage(template) as world:
                    try:
                        result = drill.run(world)
                    finally:
                        if args.transcript:
                            for run in world.transcript:
                                print(f"  $ {run.command}\n    -> {run.code} in {run.seconds:.2f}s")
                                print("    " + run.output.strip()[-400:].replace("\n", "\n    "))
            except Exception:  # report every drill, then fail
                traceback.print_exc()
                print(f"{drill.name:<20} FAILED after {time.monotonic() - started:.1f}s")
                failed.append(drill.name)
                continue
            entry = asdict(result) | {
                "date": datetime.now(UTC).date().isoformat(),
                "commit": commit(),
                "load_before": before,
                "load_after": load_average(),
                "wall_seconds": round(time.monotonic() - started, 1),
            }
            recorded[drill.name] = entry
            print(result.row() + f"  (load {before} -> {entry['load_after']})", flush=True)
    report.write(args.results, recorded)
    if args.write_runbook:
        report.write_runbook(recorded)
        print("docs/runbook.md: drill tables rendered from", args.results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
