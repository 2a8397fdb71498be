#!/usr/bin/env python3
"""Time bench/filters/run.py's cases at the database alone, or EXPLAIN one of them.

    python bench/filters/statements.py --database-url postgresql://.../filters_bench
    python bench/filters/statements.py --database-url ... --explain "tag+tag_none by name desc"

Each case runs the statements RunRepository.search runs for a first page (in creation order
its one statement; otherwise the head, then the sorted matches if the head is short) on
asyncpg with the same values, planned with each call's values as the service's are: one
untimed pass over every case, then one timed. Prints p50/p95/max, the count over 20 ms and the
slowest cases; ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of one case's statements.
Run it through /work/wt/when-quiet: it is heavy for a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "filters"))
sys.path.insert(0, str(ROOT / "src"))
import run as bench  # noqa: E402
from expsvc.driver import driver_statement  # noqa: E402
from expsvc.pagination import Ordering  # noqa: E402
from expsvc.run import fields, pages, repository  # noqa: E402
from expsvc.run.param_indexes import RUN_INDEXES_SQL  # noqa: E402
from expsvc.run.rare_elements import ARRAY_COLUMNS  # noqa: E402
from expsvc.run.repository import RunTableFacts  # noqa: E402
from expsvc.run.schemas import RunQuery  # noqa: E402

PAGE = 51  # a page of 50 and one more to know there is a next
DIALECT = asyncpg_dialect()


def query_of(names: list[str], filters: dict[str, dict[str, Any]], order: str) -> RunQuery:
    """The RunQuery a bench case's URL makes (``order``: "column desc|asc")."""
    data: dict[str, Any] = {}
    for name in names:
        data.update(filters[name])
    column, direction = order.split()
    lists = {"status", "tag", "tag_any", "tag_none", "git_branch", "participant", "sensor",
             "created_by", "params", "experiment_id"}  # fmt: skip
    data = {k: [v] if isinstance(v, str) and k in lists else v for k, v in data.items()}
    return RunQuery.model_validate({**data, "order_by": column, "order": direction})


def statements(query: RunQuery, facts: RunTableFacts) -> tuple[list[Any], dict[str, Any]]:
    """A first page's statements (the second None when the first is the page) and values."""
    ordering = Ordering(query.order_by.value, query.order.value == "desc")
    shape, values = fields.filter_values(query)
    values.update(access_admin=True, access_grantees=[], access_roles=[])
    values.update(head_rows=pages.head_rows(PAGE), page_limit=PAGE)
    first, second = facts.page_statements(shape, values, ordering, None)
    return [first, second], values


async def table_facts(connection: asyncpg.Connection) -> RunTableFacts:
    """What RunRepository.table_facts reads."""
    sql = repository.TABLE_FACTS_SQL.replace("CAST(:columns AS text[])", "$1::text[]")
    indexes = await connection.fetch(RUN_INDEXES_SQL)
    return RunTableFacts.from_rows(await connection.fetch(sql, list(ARRAY_COLUMNS)), indexes)


async def page(
    connection: asyncpg.Connection,
    query: RunQuery,
    facts: RunTableFacts,
    explain: bool = False,
) -> tuple[float, int]:
    """Milliseconds of a first page's statements and how many ran (printing their plans if
    ``explain``), run in the order RunRepository.search runs them
    (:func:`~expsvc.run.pages.read_page`)."""
    found, values = statements(query, facts)
    elapsed = 0.0
    ran = 0

    async def fetch(statement: Any, bound: dict[str, Any]) -> list[Any]:
        nonlocal elapsed, ran
        ran += 1
        prepared = driver_statement(statement, DIALECT)
        assert prepared is not None
        arguments = prepared.arguments(bound)
        started = time.perf_counter()
        rows = await (await connection.prepare(prepared.sql, name="")).fetch(*arguments)
        elapsed += time.perf_counter() - started
        if explain:
            plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + prepared.sql, *arguments)
            print("\n".join(line[0] for line in plan), "\n")
        return list(rows)

    await pages.read_page(fetch, *found, values)
    return elapsed * 1000, ran


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--explain", help='one case, as "a+b by column desc"')
    parser.add_argument("--max-combination", type=int, default=3)
    parser.add_argument("--only", help="time only the cases whose label matches this regex")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a connection setting to try (default: the service's own, no parallel workers)",
    )
    parser.add_argument(
        "--output", type=Path, help="write [[ms, statements run, case], ...] as JSON"
    )
    args = parser.parse_args()
    filters = await bench.typed_filters(args.database_url)
    # As the service's connections (EXPSVC_DB_PARALLEL_WORKERS_PER_GATHER's default).
    settings = {"max_parallel_workers_per_gather": "0"}
    settings.update(item.split("=", 1) for item in args.setting)
    connection = await asyncpg.connect(
        args.database_url, statement_cache_size=0, server_settings=settings
    )
    try:
        facts = await table_facts(connection)
        if args.explain:
            names, _, order = args.explain.partition(" by ")
            query = query_of(names.split("+"), filters, order)
            ms, ran = await page(connection, query, facts, True)
            print(f"{ms:.1f} ms, {ran} statement(s)")
            return
        cases = []
        for label, _ in bench.cases(filters, args.max_combination):
            if args.only and not re.search(args.only, label):
                continue
            names, _, order = label.partition(" by ")
            cases.append((label, query_of(names.split("+"), filters, order)))
        for _, query in cases:
            await page(connection, query, facts)
        timed = [(*await page(connection, query, facts), label) for label, query in cases]
    finally:
        await connection.close()
    values = sorted(ms for ms, _, _ in timed)
    print(
        f"{len(values)} cases: p50 {statistics.median(values):.1f} ms, "
        f"p95 {values[int(0.95 * (len(values) - 1))]:.1f} ms, max {values[-1]:.1f} ms, "
        f"mean {statistics.fmean(values):.1f} ms, {sum(v > 20 for v in values)} over 20 ms"
    )
    for ms, ran, label in sorted(timed, reverse=True)[:30]:
        print(f"{ms:8.1f} ms  {ran}  {label}")
    if args.output:
        args.output.write_text(json.dumps(timed))


if __name__ == "__main__":
    asyncio.run(main())
