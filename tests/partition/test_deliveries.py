"""Webhook deliveries and their attempts partitioned by month (migration 0025, ADR 0020): the job
drops a backlog of any size with its month in one pass; a month with a delivery still to send
stays, and the attempts of its months with it, until that delivery is finished."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from expsvc.db import Database
from expsvc.partition.jobs import build_maintainer
from expsvc.partition.service import TableReport, month_start
from tests.conftest import make_settings
from tests.partition.support import partitions, rows_by_partition, sql

BACKLOG = 20_000
TABLES = ("webhook_deliveries", "webhook_delivery_attempts")

# Finished deliveries (and one attempt each) created a little before ``$2``, by one endpoint.
_OLD_DELIVERIES = """
WITH endpoint AS (
  INSERT INTO webhook_endpoints (id, url, secret, created_by)
  VALUES (gen_random_uuid(), 'https://hooks.example.com/', 'whsec_x', 'owner') RETURNING id
), deliveries AS (
  INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, max_attempts,
                                  status, finished_at, created_at)
  SELECT gen_random_uuid(), endpoint.id, gen_random_uuid(), 'run.started', '{}', 3,
         'succeeded', $2::timestamptz, $2::timestamptz - interval '1 hour'
  FROM endpoint, generate_series(1, $1::int)
  RETURNING id, created_at
)
INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code)
SELECT id, 1, created_at + interval '1 second', 12, 200 FROM deliveries
"""


def _by_table(reports: list[TableReport]) -> dict[str, TableReport]:
    return {report.table: report for report in reports if report.table in TABLES}


async def _legacy_bound(url: str) -> datetime:
    return (await partitions(url, "webhook_deliveries"))["webhook_deliveries_legacy"]


async def test_the_job_keeps_months_ahead_for_both_tables(
    database_url: str, database: Database
) -> None:
    later = month_start(await _legacy_bound(database_url), 5) + timedelta(days=2)
    maintainer = build_maintainer(make_settings(database_url), database)
    reports = _by_table(await maintainer.run_once(now=later))
    for table in TABLES:
        names = await partitions(database_url, table)
        assert f"{table}_p{later:%Y%m}" in names
        assert max(names.values()) == month_start(later, 4)  # 3 months after the current one
        assert reports[table].created
    # A delivery and its attempt written in a month the job created go to that month.
    await sql(database_url, _OLD_DELIVERIES, 1, later)
    for table in TABLES:
        assert await rows_by_partition(database_url, table) == {f"{table}_p{later:%Y%m}": 1}


async def test_a_backlog_of_old_deliveries_goes_with_its_month_in_one_pass(
    database_url: str, database: Database
) -> None:
    bound = await _legacy_bound(database_url)
    await sql(database_url, _OLD_DELIVERIES, BACKLOG, bound - timedelta(days=3))
    settings = make_settings(database_url, webhook_delivery_retention_hours=24)

    started = time.perf_counter()
    reports = _by_table(
        await build_maintainer(settings, database).run_once(now=bound + timedelta(days=2))
    )
    took = time.perf_counter() - started
    print(f"[partitions] {BACKLOG} deliveries and attempts dropped in one pass: {took:.2f}s")

    assert reports["webhook_deliveries"].dropped == ["webhook_deliveries_legacy"]
    assert reports["webhook_delivery_attempts"].dropped == ["webhook_delivery_attempts_legacy"]
    (counts,) = await sql(
        database_url,
        "SELECT (SELECT count(*) FROM webhook_deliveries) AS deliveries,"
        " (SELECT count(*) FROM webhook_delivery_attempts) AS attempts",
    )
    assert (counts["deliveries"], counts["attempts"]) == (0, 0)
    assert took < 10  # the row purge deleted 1,000 rows per transaction


async def test_a_month_with_a_delivery_still_to_send_stays_with_its_attempts(
    database_url: str, database: Database
) -> None:
    bound = await _legacy_bound(database_url)
    await sql(database_url, _OLD_DELIVERIES, 3, bound - timedelta(days=3))
    (pending,) = await sql(
        database_url,
        "UPDATE webhook_deliveries SET status = 'pending', finished_at = NULL,"
        " next_attempt_at = now() WHERE id = (SELECT id FROM webhook_deliveries LIMIT 1)"
        " RETURNING id",
    )
    # One more attempt of the pending delivery, in the next month (its attempts' month is past
    # retention too, and stays with the delivery's).
    await sql(
        database_url,
        "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms)"
        " VALUES ($1, 2, $2, 12)",
        pending["id"],
        bound + timedelta(hours=1),
    )
    settings = make_settings(database_url, webhook_delivery_retention_hours=24)
    maintainer = build_maintainer(settings, database)
    # Two months on: the legacy partitions and the first month are past retention.
    clock = month_start(bound, 1) + timedelta(days=2)

    reports = _by_table(await maintainer.run_once(now=clock))
    assert reports["webhook_deliveries"].dropped == []
    assert reports["webhook_deliveries"].kept_in_flight == ["webhook_deliveries_legacy"]
    assert reports["webhook_delivery_attempts"].dropped == []
    assert reports["webhook_delivery_attempts"].kept_in_flight == [
        "webhook_delivery_attempts_legacy"
    ]
    # What `expsvc db partitions` prints for it (after the months it created ahead).
    assert (
        reports["webhook_deliveries"]
        .summary()
        .endswith("; dropped none; kept in flight webhook_deliveries_legacy")
    )
    (counts,) = await sql(
        database_url,
        "SELECT (SELECT count(*) FROM webhook_deliveries) AS deliveries,"
        " (SELECT count(*) FROM webhook_delivery_attempts) AS attempts",
    )
    assert (counts["deliveries"], counts["attempts"]) == (3, 4)

    # Finished: its month goes, the next one (empty) too, and their attempts' months after them.
    await sql(
        database_url,
        "UPDATE webhook_deliveries SET status = 'failed', finished_at = now(),"
        " next_attempt_at = NULL WHERE id = $1",
        pending["id"],
    )
    reports = _by_table(await maintainer.run_once(now=clock))
    month = f"p{bound:%Y%m}"
    assert reports["webhook_deliveries"].dropped == [
        "webhook_deliveries_legacy",
        f"webhook_deliveries_{month}",
    ]
    assert reports["webhook_delivery_attempts"].dropped == [
        "webhook_delivery_attempts_legacy",
        f"webhook_delivery_attempts_{month}",
    ]
    (counts,) = await sql(
        database_url,
        "SELECT (SELECT count(*) FROM webhook_deliveries) AS deliveries,"
        " (SELECT count(*) FROM webhook_delivery_attempts) AS attempts",
    )
    assert (counts["deliveries"], counts["attempts"]) == (0, 0)
