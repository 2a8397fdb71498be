"""Lifecycle rules across entities, through the HTTP API (docs/lifecycle.md)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.helpers import PROBLEM, act, create_experiment, create_run, history


async def test_run_full_lifecycle_records_every_transition(client: httpx.AsyncClient) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    started = await act(client, path, "start", reason="go")
    assert started["status"] == "running"
    assert started["started_at"] is not None
    finished = await act(client, path, "finish")
    assert finished["status"] == "finished"
    assert finished["finished_at"] >= started["started_at"]
    archived = await act(client, path, "archive")
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None
    assert archived["version"] == 4

    rows = await history(client, path)
    assert [(r["from_status"], r["to_status"]) for r in rows] == [
        ("finished", "archived"),
        ("running", "finished"),
        ("draft", "running"),
    ]
    assert rows[-1]["reason"] == "go"
    assert all(r["actor"] == "anonymous" and r["source"] == "user" for r in rows)
    assert all(r["request_id"] for r in rows)


async def test_fail_requires_a_reason_and_stores_it(client: httpx.AsyncClient) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    await act(client, path, "start")
    missing = await client.post(f"{path}/fail", json={})
    assert missing.status_code == 422
    assert (await client.post(f"{path}/fail")).status_code == 422
    failed = await act(client, path, "fail", reason="OOM on node 3")
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "OOM on node 3"
    assert (await history(client, path))[0]["reason"] == "OOM on node 3"


@pytest.mark.parametrize(
    ("setup", "action", "allowed"),
    [
        ([], "finish", ["start", "archive"]),
        ([], "fail", ["start", "archive"]),
        (["start"], "start", ["finish", "fail"]),
        (["start"], "archive", ["finish", "fail"]),
        (["start", "finish"], "start", ["archive"]),
        (["start", "finish"], "fail", ["archive"]),
        (["archive"], "start", []),
        (["archive"], "archive", []),
    ],
)
async def test_invalid_transition_is_409_naming_status_and_allowed(
    client: httpx.AsyncClient, setup: list[str], action: str, allowed: list[str]
) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    for step in setup:
        await act(client, path, step)
    before = (await client.get(path)).json()
    body = {"reason": "x"} if action == "fail" else None
    response = await client.post(f"{path}/{action}", json=body)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["current_status"] == before["status"]
    assert problem["allowed_actions"] == allowed
    assert (await client.get(path)).json() == before
    assert len(await history(client, path)) == len(setup)


async def test_transition_on_unknown_entity_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post(f"/v1/runs/{uuid.uuid4()}/start")).status_code == 404
    assert (await client.post(f"/v1/experiments/{uuid.uuid4()}/finish")).status_code == 404
    assert (await client.get(f"/v1/runs/{uuid.uuid4()}/history")).status_code == 404


async def test_transition_honours_if_match(client: httpx.AsyncClient) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    stale = await client.post(f"{path}/start", headers={"If-Match": '"9"'})
    assert stale.status_code == 412
    assert (await client.get(path)).json()["status"] == "draft"
    ok = await client.post(f"{path}/start", headers={"If-Match": '"1"'})
    assert ok.status_code == 200
    assert ok.headers["etag"] == '"2"'


async def test_starting_a_run_starts_its_draft_experiment(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    await act(client, f"/v1/runs/{run['id']}", "start")
    after = (await client.get(f"/v1/experiments/{experiment['id']}")).json()
    assert after["status"] == "running"
    assert after["started_at"] is not None
    (row,) = await history(client, f"/v1/experiments/{experiment['id']}")
    assert (row["from_status"], row["to_status"], row["source"]) == ("draft", "running", "system")
    second = await create_run(client, experiment["id"])
    await act(client, f"/v1/runs/{second['id']}", "start")
    assert len(await history(client, f"/v1/experiments/{experiment['id']}")) == 1


async def test_runs_of_a_closed_experiment_cannot_start(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    path = f"/v1/experiments/{experiment['id']}"
    await act(client, path, "start")
    await act(client, path, "finish")
    response = await client.post(f"/v1/runs/{run['id']}/start")
    assert response.status_code == 409
    assert response.json()["type"].endswith("/experiment-closed")
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "draft"


@pytest.mark.parametrize("closing", ["finish", "fail", "archive"])
async def test_experiment_cannot_close_while_runs_are_running(
    client: httpx.AsyncClient, closing: str
) -> None:
    experiment = await create_experiment(client)
    runs = [await create_run(client, experiment["id"]) for _ in range(2)]
    for run in runs:
        await act(client, f"/v1/runs/{run['id']}", "start")
    body = {"reason": "stop"} if closing == "fail" else None
    response = await client.post(f"/v1/experiments/{experiment['id']}/{closing}", json=body)
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/experiment-has-running-runs")
    assert sorted(problem["running_run_ids"]) == sorted(r["id"] for r in runs)
    for run in runs:
        await act(client, f"/v1/runs/{run['id']}", "finish")
    if closing == "archive":
        await act(client, f"/v1/experiments/{experiment['id']}", "finish")
    done = await client.post(f"/v1/experiments/{experiment['id']}/{closing}", json=body)
    assert done.status_code == 200, done.text


async def test_experiment_lifecycle_and_history(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    path = f"/v1/experiments/{experiment['id']}"
    await act(client, path, "start")
    failed = await act(client, path, "fail", reason="budget cut")
    assert failed["failure_reason"] == "budget cut"
    await act(client, path, "archive")
    rows = await history(client, path)
    assert [r["to_status"] for r in rows] == ["archived", "failed", "running"]


async def test_history_pages_newest_first(client: httpx.AsyncClient) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    for action in ("start", "finish", "archive"):
        await act(client, path, action)
    first = (await client.get(f"{path}/history", params={"page_size": 2})).json()
    assert [r["to_status"] for r in first["items"]] == ["archived", "finished"]
    second = (
        await client.get(
            f"{path}/history", params={"page_size": 2, "page_token": first["next_page_token"]}
        )
    ).json()
    assert [r["to_status"] for r in second["items"]] == ["running"]
    assert second["next_page_token"] is None
    foreign = await client.get(
        f"/v1/experiments/{run['experiment_id']}/history",
        params={"page_token": first["next_page_token"]},
    )
    assert foreign.status_code == 400


async def test_deleting_a_draft_experiment_with_runs_is_409(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"])
    response = await client.delete(f"/v1/experiments/{experiment['id']}")
    assert response.status_code == 409
    assert response.json()["runs"] == 1


@pytest.fixture
async def wide_app(database_url: str) -> FastAPI:
    from expsvc.app import create_app

    return create_app(make_settings(database_url, db_pool_size=25, db_max_overflow=5))


async def test_concurrent_finish_and_fail_exactly_one_wins(wide_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=wide_app)
    async with (
        wide_app.router.lifespan_context(wide_app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        for _ in range(5):
            run = await create_run(client)
            path = f"/v1/runs/{run['id']}"
            await act(client, path, "start")
            finish, fail = await asyncio.gather(
                client.post(f"{path}/finish"),
                client.post(f"{path}/fail", json={"reason": "race"}),
            )
            assert sorted([finish.status_code, fail.status_code]) == [200, 409]
            rows = await history(client, path)
            assert len(rows) == 2
            final = (await client.get(path)).json()
            assert final["status"] == rows[0]["to_status"]


async def test_concurrent_starts_in_a_draft_experiment(wide_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=wide_app)
    async with (
        wide_app.router.lifespan_context(wide_app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        experiment = await create_experiment(client)
        runs = [await create_run(client, experiment["id"]) for _ in range(10)]
        responses = await asyncio.gather(
            *(client.post(f"/v1/runs/{run['id']}/start") for run in runs)
        )
        assert [r.status_code for r in responses] == [200] * 10
        rows = await history(client, f"/v1/experiments/{experiment['id']}")
        assert len(rows) == 1
