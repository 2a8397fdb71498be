"""POST /v1/runs/bulk/transition over HTTP: modes, outcomes, selection, limits and cascades."""

from __future__ import annotations

import uuid

import httpx
import pytest

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
from tests.capture.support import make_capture
from tests.helpers import act, create_experiment, history
from tests.problems import assert_problem

MISSING = "00000000-0000-7000-8000-000000000000"


async def test_atomic_start_changes_every_run_with_one_batch_id(
    client: httpx.AsyncClient,
) -> None:
    runs = await runs_in(client, 3)
    result = await bulk_ok(client, TRANSITION, action="start", ids=ids(runs), reason="go")

    batch_id = result["batch_id"]
    assert uuid.UUID(batch_id)
    assert result["mode"] == "atomic"
    assert result["dry_run"] is False
    assert result["selected"] == 3
    assert result["counts"]["ok"] == 3
    assert sum(result["counts"].values()) == 3
    assert result["items_truncated"] is False
    assert [i["id"] for i in result["items"]] == sorted(ids(runs))
    for entry in result["items"]:
        assert (entry["outcome"], entry["status"], entry["version"]) == ("ok", "running", 2)
        run = await get(client, f"/v1/runs/{entry['id']}")
        assert run["status"] == "running"
        assert run["started_at"] is not None
        (row,) = await history(client, f"/v1/runs/{entry['id']}")
        assert (row["from_status"], row["to_status"]) == ("draft", "running")
        assert (row["batch_id"], row["reason"], row["source"]) == (batch_id, "go", "user")

    rows = await audit(client, batch_id=batch_id)
    assert sorted((r["entity_type"], r["action"]) for r in rows) == [
        ("experiment", "start"),
        *[("run", "start")] * 3,
    ]
    assert all(r["changes"]["status"] == {"before": "draft", "after": "running"} for r in rows)


async def test_atomic_conflict_lists_the_items_and_writes_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    running = await runs_in(client, 2, "start")
    draft = await runs_in(client, 1)
    before = await row_counts(database_url)

    response = await bulk(client, TRANSITION, action="finish", ids=[*ids(running, draft), MISSING])

    problem = assert_problem(response, 409, "bulk-conflict")
    assert problem["detail"] == "2 of 4 runs cannot finish; nothing was changed"
    assert problem["selected"] == 4
    assert problem["counts"]["ok"] == 2
    assert problem["counts"]["invalid_transition"] == 1
    assert problem["counts"]["not_found"] == 1
    conflicts = {c["id"]: c for c in problem["conflicts"]}
    assert conflicts.keys() == {draft[0]["id"], MISSING}
    assert conflicts[MISSING] == {
        "id": MISSING,
        "outcome": "not_found",
        "detail": f"run {MISSING} does not exist",
    }
    refused = conflicts[draft[0]["id"]]
    assert (refused["outcome"], refused["status"], refused["version"]) == (
        "invalid_transition",
        "draft",
        1,
    )
    assert refused["detail"] == "cannot finish a draft run; allowed: start, archive"
    for run in running:
        assert (await get(client, f"/v1/runs/{run['id']}"))["status"] == "running"
    assert await row_counts(database_url) == before


async def test_partial_reports_every_outcome_and_changes_the_rest(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ok, stale = await runs_in(client, 2, "start")
    draft = (await runs_in(client, 1))[0]
    before = await row_counts(database_url)

    result = await bulk_ok(
        client,
        TRANSITION,
        action="fail",
        reason="node lost",
        mode="partial",
        ids=[ok["id"], stale["id"], draft["id"], MISSING, ok["id"]],  # duplicates count once
        expected_versions={ok["id"]: 2, stale["id"]: 1},
    )

    assert result["selected"] == 4
    assert result["counts"] == {
        "ok": 1,
        "unchanged": 0,
        "not_found": 1,
        "precondition_failed": 1,
        "invalid_transition": 1,
        "experiment_closed": 0,
        "limit_exceeded": 0,
    }
    items = by_id(result)
    assert [i["id"] for i in result["items"]] == sorted(items)
    assert items[ok["id"]] == {
        "id": ok["id"],
        "outcome": "ok",
        "status": "failed",
        "version": 3,
        "detail": None,
    }
    assert items[stale["id"]]["outcome"] == "precondition_failed"
    assert items[stale["id"]]["detail"] == f"run {stale['id']} is at version 2, not 1"
    assert (items[stale["id"]]["status"], items[stale["id"]]["version"]) == ("running", 2)
    assert items[draft["id"]]["outcome"] == "invalid_transition"
    assert items[MISSING] == {
        "id": MISSING,
        "outcome": "not_found",
        "status": None,
        "version": None,
        "detail": f"run {MISSING} does not exist",
    }
    failed = await get(client, f"/v1/runs/{ok['id']}")
    assert (failed["status"], failed["failure_reason"]) == ("failed", "node lost")
    assert (await get(client, f"/v1/runs/{stale['id']}"))["status"] == "running"
    after = await row_counts(database_url)
    assert {table: after[table] - before[table] for table in after} == {
        "status_history": 1,
        "outbox_events": 1,
        "audit_log": 1,
    }


@pytest.mark.parametrize("mode", ["atomic", "partial"])
async def test_dry_run_reports_and_changes_nothing(
    client: httpx.AsyncClient, database_url: str, mode: str
) -> None:
    drafts = await runs_in(client, 2)
    running = await runs_in(client, 1, "start")
    before = await row_counts(database_url)

    result = await bulk_ok(
        client, TRANSITION, action="start", ids=ids(drafts, running), mode=mode, dry_run=True
    )

    assert result["dry_run"] is True
    assert result["batch_id"] is None
    assert (result["counts"]["ok"], result["counts"]["invalid_transition"]) == (2, 1)
    items = by_id(result)
    for run in drafts:  # what would happen; the status and version are today's
        assert items[run["id"]] == {
            "id": run["id"],
            "outcome": "ok",
            "status": "draft",
            "version": 1,
            "detail": None,
        }
        assert (await get(client, f"/v1/runs/{run['id']}"))["status"] == "draft"
    assert await row_counts(database_url) == before


async def test_dry_run_answers_with_a_sample_of_each_outcome(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    await insert_runs(database_url, experiment["id"], 130)
    await insert_runs(database_url, experiment["id"], 3, status="running")

    result = await bulk_ok(
        client,
        TRANSITION,
        action="start",
        filter={"experiment_id": experiment["id"]},
        mode="partial",
        dry_run=True,
    )

    assert result["selected"] == 133
    assert (result["counts"]["ok"], result["counts"]["invalid_transition"]) == (130, 3)
    outcomes = [i["outcome"] for i in result["items"]]
    assert (outcomes.count("ok"), outcomes.count("invalid_transition")) == (100, 3)
    assert result["items_truncated"] is True


async def test_filter_selects_like_the_run_list(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    tagged = await runs_in(client, 2, "start", experiment_id=experiment["id"])
    for run in tagged:
        await client.patch(f"/v1/runs/{run['id']}", json={"tags": ["nightly"]})
    untagged = await runs_in(client, 1, "start", experiment_id=experiment["id"])
    drafts = await runs_in(client, 1, experiment_id=experiment["id"])
    elsewhere = await runs_in(client, 1, "start")
    query = {"experiment_id": experiment["id"], "status": ["running"], "tag": ["nightly"]}

    listed = await get(
        client, f"/v1/runs?experiment_id={experiment['id']}&status=running&tag=nightly"
    )
    result = await bulk_ok(client, TRANSITION, action="finish", filter=query)

    assert sorted(i["id"] for i in result["items"]) == sorted(r["id"] for r in listed["items"])
    assert sorted(by_id(result)) == sorted(ids(tagged))
    for run in [*untagged, *elsewhere]:
        assert (await get(client, f"/v1/runs/{run['id']}"))["status"] == "running"
    assert (await get(client, f"/v1/runs/{drafts[0]['id']}"))["status"] == "draft"

    nothing = await bulk_ok(client, TRANSITION, action="finish", filter=query)
    assert nothing["selected"] == 0
    assert nothing["items"] == []


async def test_more_than_10000_ids_is_422(client: httpx.AsyncClient) -> None:
    many = [str(uuid.uuid4()) for _ in range(10_001)]
    response = await bulk(client, TRANSITION, action="start", ids=many)
    problem = assert_problem(response, 422, "validation-error")
    assert [e["pointer"] for e in problem["errors"]] == ["/body/ids"]
    assert "10000" in problem["errors"][0]["message"]


async def test_a_filter_matching_more_than_10000_runs_is_422(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    await insert_runs(database_url, experiment["id"], 10_001)
    before = await row_counts(database_url)

    response = await bulk(
        client, TRANSITION, action="start", filter={"experiment_id": experiment["id"]}
    )

    problem = assert_problem(response, 422, "bulk-selection-too-large")
    assert problem["limit"] == 10_000
    assert "narrow" in problem["detail"]
    assert (await get(client, f"/v1/experiments/{experiment['id']}"))["status"] == "draft"
    assert await row_counts(database_url) == before


async def test_10000_ids_with_versions_fit_the_default_body_limit(
    client: httpx.AsyncClient,
) -> None:
    many = [str(uuid.uuid4()) for _ in range(10_000)]
    body = {
        "action": "archive",
        "ids": many,
        "expected_versions": dict.fromkeys(many, 123_456),
        "mode": "partial",
    }
    response = await client.post(TRANSITION, json=body)
    assert len(response.request.content) < 1_048_576
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["not_found"] == 10_000


async def test_fail_needs_a_reason(client: httpx.AsyncClient) -> None:
    runs = await runs_in(client, 1, "start")
    response = await bulk(client, TRANSITION, action="fail", ids=ids(runs))
    problem = assert_problem(response, 422, "validation-error")
    assert "fail needs a reason" in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"action": "start"},  # neither ids nor filter
        {"action": "start", "ids": [MISSING], "filter": {}},
        {"action": "start", "ids": []},
        {"action": "stop", "ids": [MISSING]},
        {"action": "start", "filter": {}, "expected_versions": {MISSING: 1}},
        {"action": "start", "ids": [MISSING], "expected_versions": {str(uuid.uuid4()): 1}},
        {"action": "start", "ids": [MISSING], "expected_versions": {MISSING: 0}},
        {"action": "start", "ids": [MISSING], "mode": "best_effort"},
        {"action": "start", "filter": {"page_size": 5}},
        {"action": "start", "filter": {"status": ["sleeping"]}},
        {"action": "start", "ids": ["not-a-uuid"]},
        {"action": "archive", "ids": [MISSING], "reason": ""},
        {"action": "start", "ids": [MISSING], "surprise": True},
    ],
)
async def test_malformed_requests_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    assert_problem(await client.post(TRANSITION, json=body), 422, "validation-error")


async def test_starting_runs_starts_their_draft_experiments_once(
    client: httpx.AsyncClient,
) -> None:
    first = await runs_in(client, 2)
    second = await runs_in(client, 1)
    running_experiment = await create_experiment(client)
    await act(client, f"/v1/experiments/{running_experiment['id']}", "start")
    third = await runs_in(client, 1, experiment_id=running_experiment["id"])
    # A draft experiment whose only selected run cannot start stays a draft.
    stale = await runs_in(client, 1)

    result = await bulk_ok(
        client,
        TRANSITION,
        action="start",
        mode="partial",
        ids=ids(first, second, third, stale),
        expected_versions={stale[0]["id"]: 5},
    )

    assert result["counts"]["ok"] == 4
    batch_id = result["batch_id"]
    for group in (first, second):
        path = f"/v1/experiments/{group[0]['experiment_id']}"
        assert (await get(client, path))["status"] == "running"
        (row,) = await history(client, path)
        assert (row["from_status"], row["to_status"], row["source"]) == (
            "draft",
            "running",
            "system",
        )
        assert (row["reason"], row["batch_id"]) == ("first run started", batch_id)
    assert len(await history(client, f"/v1/experiments/{running_experiment['id']}")) == 1
    assert (await get(client, f"/v1/experiments/{stale[0]['experiment_id']}"))["status"] == "draft"
    started = await audit(client, batch_id=batch_id, entity_type="experiment")
    assert sorted(r["entity_id"] for r in started) == sorted(
        [first[0]["experiment_id"], second[0]["experiment_id"]]
    )
    assert {r["source"] for r in started} == {"system"}


@pytest.mark.parametrize("closing", ["finish", "archive"])
async def test_runs_of_closed_experiments_cannot_start(
    client: httpx.AsyncClient, closing: str
) -> None:
    experiment = await create_experiment(client)
    closed = await runs_in(client, 1, experiment_id=experiment["id"])
    path = f"/v1/experiments/{experiment['id']}"
    if closing == "finish":
        await act(client, path, "start")
    await act(client, path, closing)
    open_runs = await runs_in(client, 1)

    refused = await bulk(client, TRANSITION, action="start", ids=ids(closed, open_runs))
    problem = assert_problem(refused, 409, "bulk-conflict")
    (conflict,) = problem["conflicts"]
    assert conflict["id"] == closed[0]["id"]
    assert conflict["outcome"] == "experiment_closed"
    expected_status = "finished" if closing == "finish" else "archived"
    assert conflict["detail"] == (
        f"experiment {experiment['id']} is {expected_status}; its runs cannot start"
    )

    result = await bulk_ok(
        client, TRANSITION, action="start", ids=ids(closed, open_runs), mode="partial"
    )
    items = by_id(result)
    assert items[closed[0]["id"]]["outcome"] == "experiment_closed"
    assert items[open_runs[0]["id"]]["outcome"] == "ok"


@pytest.mark.parametrize(("action", "reason"), [("finish", "run_finished"), ("fail", "run_failed")])
async def test_ending_runs_stops_their_running_capture_sessions(
    client: httpx.AsyncClient, action: str, reason: str
) -> None:
    runs = await runs_in(client, 2, "start")
    running = [await make_capture(client, run["id"], "start") for run in runs]
    draft = await make_capture(client, runs[0]["id"])
    body = {"reason": "power cut"} if action == "fail" else {}

    result = await bulk_ok(client, TRANSITION, action=action, ids=ids(runs), **body)

    for capture in running:
        stopped = await get(client, f"/v1/captures/{capture['id']}")
        assert stopped["status"] == "finished"
        latest = (await history(client, f"/v1/captures/{capture['id']}"))[0]
        assert (latest["from_status"], latest["to_status"]) == ("running", "finished")
        assert (latest["source"], latest["reason"]) == ("system", reason)
        assert latest["batch_id"] == result["batch_id"]
    assert (await get(client, f"/v1/captures/{draft['id']}"))["status"] == "draft"
    stops = await audit(client, batch_id=result["batch_id"], entity_type="capture")
    assert sorted(r["entity_id"] for r in stops) == sorted(ids(running))


async def test_archive_from_several_statuses_keeps_each_previous_status(
    client: httpx.AsyncClient,
) -> None:
    draft = await runs_in(client, 1)
    finished = await runs_in(client, 1, "start", "finish")
    failed = await runs_in(client, 1, "start", "fail")
    result = await bulk_ok(client, TRANSITION, action="archive", ids=ids(draft, finished, failed))
    assert result["counts"]["ok"] == 3
    for run, previous in ((draft, "draft"), (finished, "finished"), (failed, "failed")):
        latest = (await history(client, f"/v1/runs/{run[0]['id']}"))[0]
        assert (latest["from_status"], latest["to_status"]) == (previous, "archived")
    changes = {
        r["entity_id"]: r["changes"] for r in await audit(client, batch_id=result["batch_id"])
    }
    assert changes[failed[0]["id"]]["status"] == {"before": "failed", "after": "archived"}
