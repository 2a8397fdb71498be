"""Migration 0026: a run's times in order (created, then started, then finished). The trigger
puts a time written out of order in order, the previous release's writes included; the rows
written before it are put in order by the upgrade; the checks state it, validated in place; the
downgrade drops them."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from expsvc.migrate import downgrade, upgrade
from tests.liveness.support import execute
from tests.partition.support import sql

_EXPERIMENT = (
    "INSERT INTO experiments (id, name, created_by) VALUES (gen_random_uuid(), 'e', 'carol')"
)
# A run named $1 created at now(), started and finished $2 and $3 seconds later (negative:
# before it was created; NULL: not set), in the status those times allow.
_RUN = """
INSERT INTO runs (id, experiment_id, name, created_by, status, started_at, finished_at)
SELECT gen_random_uuid(), id, $1, 'carol',
       CASE WHEN $3::float8 IS NOT NULL THEN 'finished'
            WHEN $2::float8 IS NOT NULL THEN 'running' ELSE 'draft' END,
       now() + make_interval(secs => $2), now() + make_interval(secs => $3)
FROM experiments LIMIT 1
"""
# name -> (started, finished): seconds after the creation.
_ROWS: dict[str, tuple[float | None, float | None]] = {
    "in order": (1.0, 2.0),
    "draft": (None, None),
    "started before created": (-60.0, None),
    "ended before started": (1.0, -30.0),
    "both before created": (-60.0, -90.0),
}
# What each becomes: (started, finished) as seconds after the creation.
_IN_ORDER: dict[str, tuple[float | None, float | None]] = {
    "in order": (1.0, 2.0),
    "draft": (None, None),
    "started before created": (0.0, None),
    "ended before started": (1.0, 1.0),
    "both before created": (0.0, 0.0),
}


_WITHOUT_TRIGGER = """
BEGIN;
ALTER TABLE runs DISABLE TRIGGER trg_runs_times_in_order;
UPDATE runs SET started_at = created_at - interval '1 minute' WHERE name = 'in order';
COMMIT;
"""


def _write_rows(url: str) -> None:
    asyncio.run(sql(url, _EXPERIMENT))
    for name, (started, finished) in _ROWS.items():
        asyncio.run(sql(url, _RUN, name, started, finished))


def _times(url: str) -> dict[str, tuple[float | None, float | None]]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT name, extract(epoch FROM started_at - created_at)::float8 AS started,"
            " extract(epoch FROM finished_at - created_at)::float8 AS finished FROM runs",
        )
    )
    return {row["name"]: (row["started"], row["finished"]) for row in rows}


def _state(url: str) -> dict[str, Any]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT conname AS name, convalidated AS valid FROM pg_constraint"
            " WHERE conrelid = 'runs'::regclass AND conname LIKE '%in_order'"
            " UNION ALL SELECT tgname, true FROM pg_trigger"
            " WHERE tgrelid = 'runs'::regclass AND tgname = 'trg_runs_times_in_order'",
        )
    )
    return {row["name"]: row["valid"] for row in rows}


_ALL = {"ck_runs_started_in_order": True, "ck_runs_finished_in_order": True,
        "trg_runs_times_in_order": True}  # fmt: skip


def test_the_upgrade_puts_the_rows_before_it_in_order(database_url: str) -> None:
    downgrade(database_url, "0025")
    assert _state(database_url) == {}
    _write_rows(database_url)
    assert _times(database_url) == _ROWS  # nothing stopped them

    upgrade(database_url)
    assert _state(database_url) == _ALL
    assert _times(database_url) == _IN_ORDER


def test_writes_out_of_order_are_put_in_order_not_refused(database_url: str) -> None:
    # As the previous release writes them (its times are now() of its transaction).
    _write_rows(database_url)
    assert _times(database_url) == _IN_ORDER
    # An update that would move a time out of order (a transaction older than the run).
    asyncio.run(
        sql(
            database_url,
            "UPDATE runs SET finished_at = created_at - interval '1 hour',"
            " status = 'failed' WHERE name = 'in order'",
        )
    )
    assert _times(database_url)["in order"] == (1.0, 1.0)


def test_the_checks_refuse_what_the_trigger_does_not_see(database_url: str) -> None:
    _write_rows(database_url)
    # With the trigger off (an owner's act), the checks still refuse the row.
    with pytest.raises(asyncpg.CheckViolationError, match="ck_runs_started_in_order"):
        asyncio.run(execute(database_url, _WITHOUT_TRIGGER))
    assert _times(database_url)["in order"] == (1.0, 2.0)


def test_the_downgrade_drops_the_checks_and_the_trigger(database_url: str) -> None:
    downgrade(database_url, "0025")
    assert _state(database_url) == {}
    _write_rows(database_url)
    assert _times(database_url) == _ROWS
    upgrade(database_url)  # and again, from a schema that had them
    assert _state(database_url) == _ALL
