"""Partition maintenance: months created ahead, whole partitions dropped past retention (and, for
the outbox, only once every sink published them), rows flowing across a month boundary. The
job's clock is injected; the database's rows are placed in other months by SQL."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from typer.testing import CliRunner

from expsvc.cli import app as cli
from expsvc.db import Database
from expsvc.partition.jobs import build_maintainer
from expsvc.partition.service import month_start
from tests.conftest import make_settings, runtime_url
from tests.event.support import feed_until, relay_app
from tests.helpers import act, create_run, history
from tests.partition.support import partitions, rows_by_partition, sql

TABLES = (
    "status_history",
    "outbox_events",
    "audit_log",
    "webhook_deliveries",
    "webhook_delivery_attempts",
)


def _months(table: str, start: datetime, count: int) -> list[str]:
    return [f"{table}_p{month_start(start, n):%Y%m}" for n in range(count)]


def test_the_cli_creates_the_months_ahead_once(database_url: str) -> None:
    now = datetime.now(UTC)
    result = CliRunner().invoke(
        cli,
        ["db", "partitions"],
        env={
            "EXPSVC_DATABASE_URL": runtime_url(database_url),
            "EXPSVC_PARTITION_MONTHS_AHEAD": "5",
        },
    )
    assert result.exit_code == 0, result.output
    for table in TABLES:
        names = asyncio.run(partitions(database_url, table))
        # The current month is in the legacy partition or a monthly one; the next 5 are ready.
        assert max(names.values()) >= month_start(now, 6)
        covered = sorted(names.values())
        assert covered == sorted(set(covered))
        assert set(_months(table, month_start(now, 1), 5)) <= set(names) | {f"{table}_legacy"}
        assert f"{table}:" in result.output
    again = CliRunner().invoke(
        cli,
        ["db", "partitions"],
        env={
            "EXPSVC_DATABASE_URL": runtime_url(database_url),
            "EXPSVC_PARTITION_MONTHS_AHEAD": "5",
        },
    )
    assert again.exit_code == 0
    assert again.output.count("created none") == len(TABLES), again.output
    assert "not partitioned" not in again.output  # every table is, since 0025


async def test_a_worker_back_after_months_creates_the_current_month_first(
    database_url: str, database: Database
) -> None:
    later = month_start(datetime.now(UTC), 9) + timedelta(days=3)
    maintainer = build_maintainer(make_settings(database_url), database)
    reports = await maintainer.run_once(now=later)
    created = {report.table: report.created for report in reports}
    for table in TABLES:
        names = await partitions(database_url, table)
        assert f"{table}_p{later:%Y%m}" in names  # the month the clock is in
        assert max(names.values()) == month_start(later, 4)  # and 3 ahead (the default)
        # No gap: every month from the legacy bound on has its partition.
        uppers = sorted(names.values())
        assert all(b - a <= timedelta(days=31) for a, b in itertools.pairwise(uppers[1:]))
        assert created[table]


async def test_history_retention_drops_only_whole_partitions_past_the_setting(
    database_url: str, database: Database, client: httpx.AsyncClient
) -> None:
    run = await create_run(client)
    await act(client, f"/v1/runs/{run['id']}", "start")
    legacy_bound = (await partitions(database_url, "status_history"))["status_history_legacy"]
    # A transition of a month after the bound, a day into it (as if written then).
    await sql(
        database_url,
        "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
        " source, created_at) VALUES ('run', $1, 'running', 'finished', 't', 'user', $2)",
        run["id"],
        legacy_bound + timedelta(days=1),
    )
    settings = make_settings(database_url, status_history_retention_hours=24 * 40)

    # 40 days after the bound: the legacy partition's whole range is past retention, the next
    # month's is not (its first day's row is 39 days old: kept, the month is not whole yet).
    cutoff_clock = legacy_bound + timedelta(days=40, hours=1)
    reports = await build_maintainer(settings, database).run_once(now=cutoff_clock)
    (report,) = [r for r in reports if r.table == "status_history"]
    assert report.dropped == ["status_history_legacy"]
    names = await partitions(database_url, "status_history")
    assert "status_history_legacy" not in names
    assert f"status_history_p{legacy_bound:%Y%m}" in names
    steps = await history(client, f"/v1/runs/{run['id']}")
    assert [(s["from_status"], s["to_status"]) for s in steps] == [("running", "finished")]

    # A month later that one goes too; the outbox keeps its events (nothing published them).
    reports = await build_maintainer(settings, database).run_once(
        now=month_start(legacy_bound, 1) + timedelta(days=41)
    )
    (report,) = [r for r in reports if r.table == "status_history"]
    assert report.dropped == [f"status_history_p{legacy_bound:%Y%m}"]
    assert await history(client, f"/v1/runs/{run['id']}") == []


async def test_history_is_kept_for_ever_by_default(
    database_url: str, database: Database, client: httpx.AsyncClient
) -> None:
    run = await create_run(client)
    await act(client, f"/v1/runs/{run['id']}", "start")
    far = datetime.now(UTC) + timedelta(days=3650)
    reports = await build_maintainer(make_settings(database_url), database).run_once(now=far)
    assert [r.dropped for r in reports if r.table == "status_history"] == [[]]
    assert len(await history(client, f"/v1/runs/{run['id']}")) == 1


async def test_outbox_partitions_go_only_once_every_sink_published_them(
    database_url: str, database: Database, client: httpx.AsyncClient
) -> None:
    settings = make_settings(database_url, event_retention_hours=1)
    bound = (await partitions(database_url, "outbox_events"))["outbox_events_legacy"]
    after = bound + timedelta(days=32)
    await create_run(client)  # experiment.created, run.created: unsequenced (no relay here)
    maintainer = build_maintainer(settings, database)
    (report,) = [r for r in await maintainer.run_once(now=after) if r.table == "outbox_events"]
    assert report.dropped == []
    assert report.kept_unpublished == ["outbox_events_legacy"]

    async with relay_app(database_url) as client:
        events = await feed_until(client, 2)
        await _published(database_url, max(_seqs(events)))
    (report,) = [r for r in await maintainer.run_once(now=after) if r.table == "outbox_events"]
    # The next month's partition is empty and past retention too: it goes with it.
    assert report.dropped == ["outbox_events_legacy", f"outbox_events_p{bound:%Y%m}"]
    assert "outbox_events_legacy" not in await partitions(database_url, "outbox_events")


async def _published(url: str, seq: int) -> None:
    """Wait until the webhooks sink's cursor (the one sink without Redis/Kafka) reaches seq."""
    stop = time.monotonic() + 20
    while True:
        rows = await sql(url, "SELECT last_seq FROM event_sink_cursors WHERE sink = 'webhooks'")
        if rows and rows[0]["last_seq"] >= seq:
            return
        assert time.monotonic() < stop, f"the webhooks sink did not reach {seq}: {rows}"
        await asyncio.sleep(0.05)


async def test_rows_route_to_their_month_at_the_boundary(database_url: str) -> None:
    bound = (await partitions(database_url, "status_history"))["status_history_legacy"]
    for moment in (bound - timedelta(microseconds=1), bound, month_start(bound, 1)):
        await sql(
            database_url,
            "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
            " source, created_at) VALUES ('run', gen_random_uuid(), 'draft', 'running', 't',"
            " 'user', $1)",
            moment,
        )
    assert await rows_by_partition(database_url, "status_history") == {
        "status_history_legacy": 1,
        f"status_history_p{bound:%Y%m}": 1,
        f"status_history_p{month_start(bound, 1):%Y%m}": 1,
    }


async def test_events_and_history_flow_across_a_month_boundary(
    database_url: str, database: Database
) -> None:
    """Rows of the first half are moved to the next month (as if written after the boundary):
    the feed, its cursor and the history read on across partitions, and once the older month is
    dropped the cursor still moves on from where it was."""
    async with relay_app(database_url) as client:
        run = await create_run(client)
        await act(client, f"/v1/runs/{run['id']}", "start")
        # experiment.created, run.created, experiment.started (the cascade), run.started
        first = await feed_until(client, 4)
        cursor = _seqs(first)[1]
    bound = (await partitions(database_url, "outbox_events"))["outbox_events_legacy"]
    for table in ("status_history", "outbox_events"):
        await sql(
            database_url,
            f"UPDATE {table} SET created_at = created_at + interval '31 days'"  # noqa: S608
            " WHERE created_at < $1",
            bound,
        )
    async with relay_app(database_url) as client:
        await act(client, f"/v1/runs/{run['id']}", "finish")  # written now: the legacy month
        events = await feed_until(client, 5)
        assert _seqs(events) == list(range(1, 6))
        steps = await history(client, f"/v1/runs/{run['id']}")
        assert [s["to_status"] for s in steps] == ["finished", "running"]  # newest first
        await _published(database_url, 5)
        page = await client.get("/v1/events", params={"after": cursor})
        assert _seqs(page.json()["items"]) == [3, 4, 5]

        settings = make_settings(
            database_url, event_retention_hours=24, status_history_retention_hours=24
        )
        reports = await build_maintainer(settings, database).run_once(now=bound + timedelta(days=2))
        dropped = {r.table: r.dropped for r in reports}
        assert dropped["status_history"] == ["status_history_legacy"]
        assert dropped["outbox_events"] == ["outbox_events_legacy"]
        # The finish (written now, in the dropped month) is gone; the moved rows remain.
        page = await client.get("/v1/events", params={"after": 0})
        assert _seqs(page.json()["items"]) == [1, 2, 3, 4]
        page = await client.get("/v1/events", params={"after": cursor})
        assert _seqs(page.json()["items"]) == [3, 4]
        steps = await history(client, f"/v1/runs/{run['id']}")
        assert [s["to_status"] for s in steps] == ["running"]
        assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "finished"


def _seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(event["sequence"]) for event in events]
