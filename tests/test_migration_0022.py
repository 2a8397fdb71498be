"""Migration 0022: CHECK constraints tying a run's lifecycle times to its status, added NOT VALID
and validated apart (no rewrite); the rows the previous release writes pass, rows that break the
lifecycle are refused; the downgrade drops them."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from expsvc.migrate import downgrade, upgrade

_EXPERIMENT = (
    "INSERT INTO experiments (id, name, created_by) VALUES (gen_random_uuid(), 'e', 'carol')"
)
# A run of the experiment with this status and times ($1 status, $2 started, $3 finished).
_RUN = (
    "INSERT INTO runs (id, experiment_id, name, created_by, status, started_at, finished_at)"
    " SELECT gen_random_uuid(), id, 'r', 'carol', $1,"
    " CASE WHEN $2 THEN now() END, CASE WHEN $3 THEN now() END FROM experiments LIMIT 1"
)
# What the lifecycle allows (archived from draft never started), as the previous release
# writes it.
_LIFECYCLE_ROWS = (
    ("draft", False, False),
    ("running", True, False),
    ("finished", True, True),
    ("failed", True, True),
    ("archived", True, True),
    ("archived", False, False),
)
_BROKEN_ROWS = (
    ("running", False, False, "ck_runs_started"),
    ("finished", False, True, "ck_runs_started"),
    ("failed", True, False, "ck_runs_finished"),
    ("finished", True, False, "ck_runs_finished"),
)


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def _run(url: str, status: str, started: bool, finished: bool) -> None:
    asyncio.run(_sql(url, _RUN, status, started, finished))


def _constraints(url: str) -> dict[str, bool]:
    rows = asyncio.run(
        _sql(
            url,
            "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'runs'::regclass"
            " AND conname IN ('ck_runs_started', 'ck_runs_finished')",
        )
    )
    return {row["conname"]: row["convalidated"] for row in rows}


def _relfilenode(url: str) -> int:
    (row,) = asyncio.run(_sql(url, "SELECT relfilenode FROM pg_class WHERE oid = 'runs'::regclass"))
    return int(row["relfilenode"])


def test_the_constraints_are_validated_in_place_and_refuse_what_the_lifecycle_cannot_make(
    database_url: str,
) -> None:
    downgrade(database_url, "0021")
    assert _constraints(database_url) == {}
    asyncio.run(_sql(database_url, _EXPERIMENT))
    for row in _LIFECYCLE_ROWS:
        _run(database_url, *row)
    before = _relfilenode(database_url)

    upgrade(database_url)
    assert _relfilenode(database_url) == before  # no rewrite
    assert _constraints(database_url) == {"ck_runs_started": True, "ck_runs_finished": True}
    for row in _LIFECYCLE_ROWS:  # the previous release's writes still pass
        _run(database_url, *row)
    for status, started, finished, constraint in _BROKEN_ROWS:
        with pytest.raises(asyncpg.CheckViolationError, match=constraint):
            _run(database_url, status, started, finished)
    with pytest.raises(asyncpg.CheckViolationError, match="ck_runs_started"):
        asyncio.run(_sql(database_url, "UPDATE runs SET status = 'running' WHERE status = 'draft'"))

    downgrade(database_url, "0021")
    assert _constraints(database_url) == {}
    _run(database_url, "running", False, False)  # nothing checks it any more


def test_a_row_breaking_the_lifecycle_stops_the_validation_until_it_is_corrected(
    database_url: str,
) -> None:
    downgrade(database_url, "0021")
    asyncio.run(_sql(database_url, _EXPERIMENT))
    _run(database_url, "failed", True, False)

    with pytest.raises(Exception, match="ck_runs_finished"):
        upgrade(database_url)
    # Added but not valid (both validations were one transaction): new writes are checked
    # already, the old row is not yet.
    assert _constraints(database_url) == {"ck_runs_started": False, "ck_runs_finished": False}
    with pytest.raises(asyncpg.CheckViolationError, match="ck_runs_finished"):
        _run(database_url, "failed", True, False)

    asyncio.run(_sql(database_url, "UPDATE runs SET finished_at = now() WHERE status = 'failed'"))
    upgrade(database_url)  # re-run: the add is skipped, the validation passes
    assert _constraints(database_url) == {"ck_runs_started": True, "ck_runs_finished": True}
