"""A bulk operation as a whole: its batch id in history, events and audit; concurrency with
single-run actions; Idempotency-Key replay."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import httpx

from tests.bulk.support import (
    TRANSITION,
    audit,
    bulk,
    bulk_ok,
    by_id,
    get,
    ids,
    insert_runs,
    row_counts,
    runs_in,
)
from tests.event.support import feed_until, relay_app
from tests.helpers import create_experiment, history
from tests.problems import assert_problem


async def test_batch_id_ties_history_events_and_audit(database_url: str) -> None:
    async with relay_app(database_url) as client:
        runs = await runs_in(client, 2)
        result = await bulk_ok(client, TRANSITION, action="start", ids=ids(runs))
        batch_id = result["batch_id"]

        events = await feed_until(client, 6)  # 2 created + experiment.started + 2 run.started
        batch = [e for e in events if e["data"].get("batch_id") == batch_id]
        assert [e["type"] for e in batch] == ["experiment.started", "run.started", "run.started"]
        assert batch[0]["data"]["source"] == "system"
        assert sorted(e["data"]["run"]["id"] for e in batch[1:]) == sorted(ids(runs))
        for event in batch[1:]:
            # The snapshot in the event is the run exactly as the API shows it.
            assert event["data"]["run"] == await get(
                client, f"/v1/runs/{event['data']['run']['id']}"
            )
            assert event["data"]["previous_status"] == "draft"
            assert event["data"]["run"]["status"] == "running"
            assert event["data"]["source"] == "user"
        created = [e for e in events if e["type"] == "run.created"]
        assert all("batch_id" not in e["data"] for e in created)

        rows = await audit(client, batch_id=batch_id)
        assert len(rows) == 3
        for run in runs:
            (row,) = await history(client, f"/v1/runs/{run['id']}")
            assert row["batch_id"] == batch_id


async def test_every_item_has_its_audit_row(client: httpx.AsyncClient, database_url: str) -> None:
    experiment = await create_experiment(client)
    await insert_runs(database_url, experiment["id"], 250)
    result = await bulk_ok(
        client, TRANSITION, action="start", filter={"experiment_id": experiment["id"]}
    )
    assert result["counts"]["ok"] == 250

    pages, token = 0, None
    seen: list[str] = []
    while True:
        params: dict[str, Any] = {"batch_id": result["batch_id"], "page_size": 100}
        if token:
            params["page_token"] = token
        page = (await client.get("/v1/audit", params=params)).json()
        seen += [row["entity_id"] for row in page["items"] if row["entity_type"] == "run"]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(by_id(result))


async def _lock_waiters(observer: asyncpg.Connection, count: int) -> None:
    """Wait until ``count`` sessions of this database wait for a lock.

    ``observer`` must not be inside a transaction: pg_stat_activity is a snapshot taken once
    per transaction.
    """
    deadline = time.monotonic() + 10
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    while await observer.fetchval(query) < count:
        assert time.monotonic() < deadline, "the requests never queued for the lock"
        await asyncio.sleep(0.02)


async def test_a_single_action_and_a_bulk_one_on_the_same_run_serialise(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for round_ in range(4):
        others = await runs_in(client, 3, "start")
        target = (await runs_in(client, 1, "start"))[0]
        blocker = await asyncpg.connect(database_url)
        observer = await asyncpg.connect(database_url)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute(
                "SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", uuid.UUID(target["id"])
            )
            selection = [*ids(others), target["id"]]
            requests = [  # coroutines: nothing is sent until each becomes a task
                client.post(f"/v1/runs/{target['id']}/fail", json={"reason": "oom"}),
                bulk(client, TRANSITION, action="finish", mode="partial", ids=selection),
            ]
            # Queue one, then the other, behind the blocker: PostgreSQL grants the row lock
            # in queue order, so the rounds alternate between single-first and bulk-first.
            first = asyncio.create_task(requests[round_ % 2])
            await _lock_waiters(observer, 1)
            second = asyncio.create_task(requests[1 - round_ % 2])
            await _lock_waiters(observer, 2)
            await transaction.rollback()
            answers = await asyncio.gather(first, second)
            single_response, bulk_response = answers[round_ % 2], answers[1 - round_ % 2]
        finally:
            await blocker.close()
            await observer.close()

        assert bulk_response.status_code == 200, bulk_response.text
        outcome = by_id(bulk_response.json())[target["id"]]
        if round_ % 2 == 0:  # the single action queued first and won
            assert single_response.status_code == 200, single_response.text
            assert outcome["outcome"] == "invalid_transition"
            expected = "failed"
        else:
            assert_problem(single_response, 409, "invalid-transition")
            assert outcome["outcome"] == "ok"
            expected = "finished"
        rows = await history(client, f"/v1/runs/{target['id']}")
        assert [(r["from_status"], r["to_status"]) for r in rows] == [
            ("running", expected),
            ("draft", "running"),
        ]
        for run in others:
            assert (await get(client, f"/v1/runs/{run['id']}"))["status"] == "finished"


async def test_concurrent_bulk_and_single_starts_never_deadlock(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        groups = [await runs_in(client, 3) for _ in range(3)]
        every = ids(*groups)
        requests = [
            bulk(client, TRANSITION, action="start", mode="partial", ids=every),
            bulk(client, TRANSITION, action="start", mode="partial", ids=every[::-1][:5]),
            *[client.post(f"/v1/runs/{group[-1]['id']}/start") for group in groups],
        ]
        responses = await asyncio.gather(*requests)
        assert [r.status_code for r in responses[:2]] == [200, 200], responses[0].text
        assert {r.status_code for r in responses[2:]} <= {200, 409}
        starts = sum(r.json()["counts"]["ok"] for r in responses[:2])
        starts += sum(r.status_code == 200 for r in responses[2:])
        assert starts == len(every)  # each run started exactly once
        for run_id in every:
            rows = await history(client, f"/v1/runs/{run_id}")
            assert [(r["from_status"], r["to_status"]) for r in rows] == [("draft", "running")]
        for group in groups:
            rows = await history(client, f"/v1/experiments/{group[0]['experiment_id']}")
            assert [(r["to_status"], r["source"]) for r in rows] == [("running", "system")]


async def test_idempotency_key_replays_the_stored_answer(
    client: httpx.AsyncClient, database_url: str
) -> None:
    runs = await runs_in(client, 3)
    body = {"action": "start", "ids": ids(runs)}
    headers = {"Idempotency-Key": "bulk-1"}
    first = await client.post(TRANSITION, json=body, headers=headers)
    assert first.status_code == 200, first.text
    after_first = await row_counts(database_url)

    again = await client.post(TRANSITION, json=body, headers=headers)

    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["content-type"] == "application/json"
    assert await row_counts(database_url) == after_first
    rows = await audit(client, batch_id=first.json()["batch_id"])
    assert {r["idempotency_key"] for r in rows} == {"bulk-1"}

    other = await client.post(TRANSITION, json={**body, "mode": "partial"}, headers=headers)
    assert_problem(other, 422, "idempotency-key-reused")
