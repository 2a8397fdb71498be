#!/usr/bin/env python3
"""Count what a worker's cyclic garbage collector walks for bench/filters/run.py's statements.

    python bench/filters/objects.py --database-url postgresql://.../filters_bench

Compiles every case's first-page statements for the driver, as a worker that served the whole
set holds them (:data:`expsvc.driver.BUILT_STATEMENTS`), and prints how many objects the
collector tracks before and after, the time of a full collection, and the types that grew most.
It runs nothing at the database but the cases' and the table facts' reads.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench
import statements as cases_statements
from expsvc.driver import BUILT_STATEMENTS, driver_statement


def tracked_types() -> collections.Counter[str]:
    return collections.Counter(type(item).__qualname__ for item in gc.get_objects())


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    filters = await bench.typed_filters(args.database_url)
    connection = await asyncpg.connect(args.database_url)
    try:
        facts = await cases_statements.table_facts(connection)
    finally:
        await connection.close()
    gc.collect()
    before = tracked_types()
    compiled = 0
    for label, _ in bench.cases(filters, 3):
        names, _, order = label.partition(" by ")
        query = cases_statements.query_of(names.split("+"), filters, order)
        found, _ = cases_statements.statements(query, facts)
        for statement in found:
            if statement is not None:
                driver_statement(statement, cases_statements.DIALECT)
                compiled += 1
    gc.collect()
    after = tracked_types()
    started = time.perf_counter()
    gc.collect()
    full_ms = (time.perf_counter() - started) * 1000
    print(
        f"{compiled} statements, {len(BUILT_STATEMENTS)} kept; objects tracked: "
        f"{sum(before.values())} before, {sum(after.values())} after; "
        f"a full collection {full_ms:.0f} ms"
    )
    for name, count in (after - before).most_common(args.top):
        print(f"{count:8d} {name}")


if __name__ == "__main__":
    asyncio.run(main())
