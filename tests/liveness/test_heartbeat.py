"""POST /v1/runs/{id}/heartbeat: one cheap update, no history, audit or event; Idempotency-Key
ignored."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.helpers import PROBLEM, act, create_run
from tests.liveness.support import fetch, run_row

WRITES = (
    "SELECT (SELECT count(*) FROM status_history) + (SELECT count(*) FROM audit_log)"
    " + (SELECT count(*) FROM outbox_events) + (SELECT count(*) FROM idempotency_keys)"
)


async def running_run(client: httpx.AsyncClient) -> dict[str, object]:
    run = await create_run(client)
    return await act(client, f"/v1/runs/{run['id']}", "start")


async def test_a_heartbeat_updates_only_last_heartbeat_at(
    client: httpx.AsyncClient, database_url: str
) -> None:
    run = await running_run(client)
    writes = await fetch(database_url, WRITES)

    first = await client.post(f"/v1/runs/{run['id']}/heartbeat")
    assert first.status_code == 204, first.text
    assert first.content == b""
    beat = await run_row(database_url, uuid.UUID(str(run["id"])))
    second = await client.post(f"/v1/runs/{run['id']}/heartbeat")
    assert second.status_code == 204

    after = await run_row(database_url, uuid.UUID(str(run["id"])))
    assert beat["last_heartbeat_at"] is not None
    assert after["last_heartbeat_at"] >= beat["last_heartbeat_at"]
    assert after["version"] == run["version"]  # no version bump: If-Match of clients holds
    assert after["updated_at"] == beat["updated_at"]
    assert await fetch(database_url, WRITES) == writes  # no history, audit, event, key
    read = (await client.get(f"/v1/runs/{run['id']}")).json()
    assert read["last_heartbeat_at"] is not None


async def test_an_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/runs/{uuid.uuid4()}/heartbeat")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/run-not-found")


async def test_a_run_that_is_not_running_is_409(client: httpx.AsyncClient) -> None:
    draft = await create_run(client)
    response = await client.post(f"/v1/runs/{draft['id']}/heartbeat")
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/run-not-running")
    assert problem["run_status"] == "draft"
    assert problem["run_id"] == draft["id"]

    run = await running_run(client)
    await act(client, f"/v1/runs/{run['id']}", "finish")
    response = await client.post(f"/v1/runs/{run['id']}/heartbeat")
    assert response.status_code == 409
    assert response.json()["run_status"] == "finished"


async def test_a_malformed_run_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/runs/not-a-uuid/heartbeat")
    assert response.status_code == 422


async def test_idempotency_key_and_body_are_ignored(
    client: httpx.AsyncClient, database_url: str
) -> None:
    run = await running_run(client)
    path = f"/v1/runs/{run['id']}/heartbeat"
    for body, key in ((b"", "k1"), (b'{"a": 1}', "k1"), (b"not json", "x" * 300)):
        response = await client.post(path, content=body, headers={"Idempotency-Key": key})
        assert response.status_code == 204, response.text
        assert "Idempotent-Replayed" not in response.headers
    assert await fetch(database_url, "SELECT count(*) FROM idempotency_keys") == 0


async def test_openapi_marks_the_heartbeat_as_ignoring_idempotency_keys(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/v1/runs/{run_id}/heartbeat"]["post"]
    assert operation["operationId"] == "heartbeat_run"
    assert operation["x-idempotency-key"] == "ignored"
    assert "Idempotency-Key" not in [p["name"] for p in operation["parameters"]]
    assert {"204", "404", "409", "422"} <= set(operation["responses"])
