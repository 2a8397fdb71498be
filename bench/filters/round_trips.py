#!/usr/bin/env python3
"""What a list statement planned with each call's values costs, prepared on each call or
described once (expsvc.driver.DriverStatement.unnamed_rows).

    python bench/filters/round_trips.py --database-url postgresql://.../filters_bench

Runs the first statement of each of bench/filters/run.py's first pages on one asyncpg
connection, every statement once per pass, alternating passes of the two ways:

- ``prepare each call``: the unnamed statement prepared (Parse and Describe, one round trip),
  then bound and executed (another), as the driver did up to session 27;
- ``described once``: the driver's way: described on its first run, then its Parse sent with
  its Bind and Execute, one round trip.

Prints, per statement, the wall time, this process's CPU and the backend's CPU (from /proc: run
it on the database's machine). Run it on a quiet machine (../shared/tools/quiet-run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "filters"))
sys.path.insert(0, str(ROOT / "src"))
import run as bench  # noqa: E402
import statements as cases  # noqa: E402
from expsvc.driver import DriverStatement, driver_statement  # noqa: E402


def cpu_ticks(pid: int) -> int:
    """A process's user and system CPU, in clock ticks (1/100 s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    filters = await bench.typed_filters(args.database_url)
    connection = await asyncpg.connect(
        args.database_url, server_settings={"max_parallel_workers_per_gather": "0"}
    )
    try:
        facts = await cases.table_facts(connection)
        work: list[tuple[DriverStatement, list[Any]]] = []
        for label, _ in bench.cases(filters, 3):
            names, _, order = label.partition(" by ")
            query = cases.query_of(names.split("+"), filters, order)
            found, values = cases.statements(query, facts)
            prepared = driver_statement(found[0], cases.DIALECT)
            if prepared is not None and prepared.plans_each_call:  # not the unfiltered list
                work.append((prepared, prepared.arguments(values)))
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        for prepared, arguments in work:  # untimed: caches, and each described once
            await prepared.unnamed_rows(connection, arguments)
        for _ in range(args.passes):
            for way in ("prepare each call", "described once"):
                started, cpu, server = time.perf_counter(), time.process_time(), cpu_ticks(backend)
                for prepared, arguments in work:
                    if way == "described once":
                        await prepared.unnamed_rows(connection, arguments)
                    else:
                        await (await connection.prepare(prepared.sql, name="")).fetch(*arguments)
                count = len(work)
                wall = (time.perf_counter() - started) * 1000 / count
                client = (time.process_time() - cpu) * 1000 / count
                database = (cpu_ticks(backend) - server) * 10 / count
                print(
                    f"{way:18} {count} statements: wall {wall:.3f} ms, this process's CPU "
                    f"{client:.3f} ms, the backend's {database:.3f} ms a statement"
                )
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
