"""The run reaper: which runs it fails, what it leaves behind, batches and concurrent reapers."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from expsvc.db import Database, create_engine
from expsvc.liveness.service import RunReaper
from expsvc.settings import Settings
from expsvc.worker.jobs import build_runner
from tests.helpers import act, create_experiment, create_run, history
from tests.liveness.support import FAIL_HISTORY, fetch, insert_running_runs, run_row


def reaper(database: Database, timeout: int = 600, max_duration: int | None = None) -> RunReaper:
    return RunReaper(database, heartbeat_timeout=timeout, max_duration=max_duration, batch_size=100)


async def test_a_silent_run_is_failed_with_history_audit_event_and_its_captures_stopped(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    await act(client, path, "start")
    capture = (await client.post(f"{path}/captures", json={})).json()
    await act(client, f"/v1/captures/{capture['id']}", "start")
    await fetch(
        database_url,
        "UPDATE runs SET last_heartbeat_at = now() - interval '11 minutes' WHERE id = $1",
        uuid.UUID(run["id"]),
    )

    assert await reaper(database).reap_batch() == 1

    failed = (await client.get(path)).json()
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "heartbeat_lost"
    entry = (await history(client, path))[0]  # newest first
    assert (entry["from_status"], entry["to_status"]) == ("running", "failed")
    assert entry["actor"] == "system:reaper"
    assert entry["source"] == "worker"
    assert entry["reason"] == "heartbeat_lost"
    assert entry["batch_id"] is not None
    stopped = (await client.get(f"/v1/captures/{capture['id']}")).json()
    assert stopped["status"] == "finished"
    assert (await history(client, f"/v1/captures/{capture['id']}"))[0]["reason"] == "run_failed"
    audit = await fetch(
        database_url,
        "SELECT count(*) FROM audit_log WHERE entity_id = $1 AND action = 'fail'"
        " AND actor = 'system:reaper' AND source = 'worker'",
        uuid.UUID(run["id"]),
    )
    assert audit == 1
    event = await fetch(
        database_url,
        "SELECT data FROM outbox_events WHERE type = 'run.failed' AND entity_id = $1",
        uuid.UUID(run["id"]),
    )
    assert '"actor": "system:reaper"' in event
    assert '"source": "worker"' in event


async def test_a_run_that_never_beat_is_judged_from_its_start(
    database: Database, database_url: str
) -> None:
    old = await insert_running_runs(database_url, 1, started_ago=700)
    young = await insert_running_runs(database_url, 1, started_ago=500)
    assert await reaper(database).reap_batch() == 1
    assert (await run_row(database_url, old[0]))["status"] == "failed"
    assert (await run_row(database_url, young[0]))["status"] == "running"


async def test_a_recent_heartbeat_keeps_an_old_run_alive(
    database: Database, database_url: str
) -> None:
    (run_id,) = await insert_running_runs(database_url, 1, started_ago=86_400, heartbeat_ago=30)
    assert await reaper(database).reap_batch() == 0
    assert (await run_row(database_url, run_id))["status"] == "running"


async def test_the_experiment_and_the_run_override_the_timeout(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    strict = await create_experiment(client, heartbeat_timeout_seconds=30)
    lenient = await create_experiment(client, heartbeat_timeout_seconds=3600)
    in_strict = await insert_running_runs(
        database_url, 1, heartbeat_ago=60, experiment_id=uuid.UUID(strict["id"])
    )
    in_lenient = await insert_running_runs(
        database_url, 1, heartbeat_ago=700, experiment_id=uuid.UUID(lenient["id"])
    )
    # The run's own limit wins over its experiment's.
    own_limit = await insert_running_runs(
        database_url,
        1,
        heartbeat_ago=60,
        experiment_id=uuid.UUID(lenient["id"]),
        heartbeat_timeout_seconds=45,
    )

    assert await reaper(database).reap_batch() == 2

    assert (await run_row(database_url, in_strict[0]))["status"] == "failed"
    assert (await run_row(database_url, in_lenient[0]))["status"] == "running"
    assert (await run_row(database_url, own_limit[0]))["status"] == "failed"


async def test_a_run_past_its_maximum_duration_is_failed_even_while_beating(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    capped = await create_experiment(client, max_duration_seconds=600)
    (over,) = await insert_running_runs(
        database_url, 1, started_ago=700, heartbeat_ago=1, experiment_id=uuid.UUID(capped["id"])
    )
    (within,) = await insert_running_runs(
        database_url, 1, started_ago=500, heartbeat_ago=1, experiment_id=uuid.UUID(capped["id"])
    )
    (uncapped,) = await insert_running_runs(
        database_url, 1, started_ago=7 * 86_400, heartbeat_ago=1
    )

    assert await reaper(database).reap_batch() == 1

    row = await run_row(database_url, over)
    assert (row["status"], row["failure_reason"]) == ("failed", "max_duration_exceeded")
    assert (await run_row(database_url, within))["status"] == "running"
    assert (await run_row(database_url, uncapped))["status"] == "running"
    # The service-wide limit applies where neither run nor experiment sets one.
    assert await reaper(database, max_duration=86_400).reap_batch() == 1
    assert (await run_row(database_url, uncapped))["failure_reason"] == "max_duration_exceeded"


async def test_a_run_both_silent_and_too_long_is_reported_as_heartbeat_lost(
    database: Database, database_url: str
) -> None:
    (run_id,) = await insert_running_runs(database_url, 1, started_ago=7200, heartbeat_ago=3600)
    assert await reaper(database, max_duration=3600).reap_batch() == 1
    assert (await run_row(database_url, run_id))["failure_reason"] == "heartbeat_lost"


async def test_a_batch_of_both_reasons_records_each_run_once_under_one_batch_id(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    silent = await insert_running_runs(database_url, 2, started_ago=1000, heartbeat_ago=900)
    capped = await create_experiment(client, max_duration_seconds=600)
    too_long = await insert_running_runs(
        database_url, 2, started_ago=700, heartbeat_ago=1, experiment_id=uuid.UUID(capped["id"])
    )
    reasons = {
        **dict.fromkeys(silent, "heartbeat_lost"),
        **dict.fromkeys(too_long, "max_duration_exceeded"),
    }
    captures: dict[uuid.UUID, uuid.UUID] = {}
    for run_id in reasons:
        response = await client.post(f"/v1/runs/{run_id}/captures", json={})
        capture = uuid.UUID(response.json()["id"])
        await act(client, f"/v1/captures/{capture}", "start")
        captures[capture] = run_id

    registry = CollectorRegistry()
    database.observe(registry)  # as the app and the worker do
    assert await reaper(database).reap_batch() == 4
    for reason in ("heartbeat_lost", "max_duration_exceeded"):
        labels = {"entity": "run", "action": "fail", "source": "worker", "reason": reason}
        assert registry.get_sample_value("expsvc_transitions_total", labels) == 2
    stopped = {"entity": "capture", "action": "finish", "source": "system", "reason": "run_failed"}
    assert registry.get_sample_value("expsvc_transitions_total", stopped) == 4

    connection = await asyncpg.connect(database_url)
    try:
        runs_history = await connection.fetch(
            "SELECT entity_id, reason, batch_id, actor, source FROM status_history"
            " WHERE entity_type = 'run' AND to_status = 'failed'"
        )
        audit = await connection.fetch(
            "SELECT entity_id, changes -> 'reason' ->> 'after' AS reason, batch_id"
            " FROM audit_log WHERE entity_type = 'run' AND action = 'fail'"
        )
        events = await connection.fetch(
            "SELECT entity_id, data ->> 'reason' AS reason, data ->> 'batch_id' AS batch_id,"
            " data -> 'run' ->> 'failure_reason' AS failure_reason"
            " FROM outbox_events WHERE type = 'run.failed'"
        )
        captures_history = await connection.fetch(
            "SELECT entity_id, reason, batch_id, source FROM status_history"
            " WHERE entity_type = 'capture' AND to_status = 'finished'"
        )
    finally:
        await connection.close()
    (batch_id,) = {row["batch_id"] for row in runs_history}
    assert batch_id is not None
    assert sorted((r["entity_id"], r["reason"]) for r in runs_history) == sorted(reasons.items())
    assert {(r["actor"], r["source"]) for r in runs_history} == {("system:reaper", "worker")}
    assert sorted((r["entity_id"], r["reason"]) for r in audit) == sorted(reasons.items())
    assert {r["batch_id"] for r in audit} == {batch_id}
    assert sorted((r["entity_id"], r["reason"]) for r in events) == sorted(reasons.items())
    assert all(r["failure_reason"] == r["reason"] for r in events)
    assert {r["batch_id"] for r in events} == {str(batch_id)}
    # Each run's running capture session stopped with it, once, in the same batch.
    assert sorted(r["entity_id"] for r in captures_history) == sorted(captures)
    assert {(r["reason"], r["batch_id"], r["source"]) for r in captures_history} == {
        ("run_failed", batch_id, "system")
    }


async def test_runs_in_other_statuses_are_left_alone(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    run = await create_run(client)
    await fetch(
        database_url,
        "UPDATE runs SET started_at = now() - interval '1 day' WHERE id = $1",
        uuid.UUID(run["id"]),
    )
    assert await reaper(database).reap_batch() == 0
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "draft"


async def test_one_batch_per_call_one_transaction_each(
    database: Database, database_url: str
) -> None:
    await insert_running_runs(database_url, 250)
    reaper_ = reaper(database)
    assert [await reaper_.reap_batch() for _ in range(4)] == [100, 100, 50, 0]
    assert await fetch(database_url, FAIL_HISTORY) == 250
    batches = await fetch(
        database_url,
        "SELECT count(DISTINCT batch_id) FROM status_history WHERE to_status = 'failed'",
    )
    assert batches == 3


async def test_concurrent_reapers_fail_each_run_once(settings: Settings, database_url: str) -> None:
    await insert_running_runs(database_url, 600)
    databases = [Database(create_engine(settings, database_url)) for _ in range(4)]
    reapers = [
        RunReaper(db, heartbeat_timeout=600, max_duration=None, batch_size=25) for db in databases
    ]

    async def drain(one: RunReaper) -> int:
        total = 0
        while count := await one.reap_batch():
            total += count
        return total

    try:
        totals = await asyncio.gather(*(drain(one) for one in reapers))
    finally:
        for db in databases:
            await db.dispose()
    assert sum(totals) == 600
    assert await fetch(database_url, FAIL_HISTORY) == 600
    per_run = await fetch(
        database_url,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM status_history"
        " WHERE entity_type = 'run' GROUP BY entity_id) AS counts",
    )
    assert per_run == 1


async def test_the_reaper_skips_a_run_locked_by_a_request(
    database: Database, database_url: str
) -> None:
    import asyncpg

    (run_id,) = await insert_running_runs(database_url, 1)
    holder = await asyncpg.connect(database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE", run_id)
        assert await reaper(database).reap_batch() == 0  # skipped, not waited for
        await transaction.rollback()
    finally:
        await holder.close()
    assert await reaper(database).reap_batch() == 1


async def test_the_query_walks_the_partial_index(database: Database) -> None:
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from expsvc.liveness.repository import stale_runs_query

    query = stale_runs_query(600, None, 10)
    # 'running' is inlined even as a prepared statement, so a generic plan can use the index.
    assert "runs.status = 'running'" in str(query.compile(dialect=postgresql.dialect()))
    sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await session.execute(text("EXPLAIN " + sql)))
    assert "ix_runs_running_started_at" in plan, plan


async def test_the_reaper_runs_in_the_app_as_a_job(database_url: str) -> None:
    from expsvc.app import create_app
    from tests.conftest import make_settings

    (run_id,) = await insert_running_runs(database_url, 1)
    app = create_app(make_settings(database_url, reaper_interval_seconds=0.05))
    async with app.router.lifespan_context(app):
        async with asyncio.timeout(10):
            while True:  # poll with a deadline: the job runs on its own schedule
                if (await run_row(database_url, run_id))["status"] == "failed":
                    break
                await asyncio.sleep(0.05)
        registry: CollectorRegistry = app.state.metrics.registry
        assert registry.get_sample_value("expsvc_job_items_total", {"job": "run-reaper"}) == 1


def test_reaper_interval_zero_registers_no_job(settings: Settings) -> None:
    off = settings.model_copy(update={"reaper_interval_seconds": 0})
    runner = build_runner(off, None, CollectorRegistry(), in_app=False)  # type: ignore[arg-type]
    assert "run-reaper" not in runner.names
    on = build_runner(settings, None, CollectorRegistry(), in_app=False)  # type: ignore[arg-type]
    assert "run-reaper" in on.names
