"""The audit log through the HTTP API, and the database refusing to rewrite it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.helpers import act, create_experiment, create_run


async def audit(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit", params={"page_size": 1000, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def gateway_client(database_url: str) -> Any:
    settings = make_settings(database_url, **header_identity("X-User", "10.1.2.0/24"))
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-User": "alice"}
        ) as client:
            yield client


async def test_every_change_leaves_one_row_with_before_and_after(
    gateway_client: httpx.AsyncClient,
) -> None:
    client = gateway_client
    response = await client.post(
        "/v1/experiments",
        json={"name": "e", "tags": ["a"]},
        headers={"Idempotency-Key": "k-1", "X-Request-ID": "req-1"},
    )
    experiment = response.json()
    path = f"/v1/experiments/{experiment['id']}"
    await client.patch(path, json={"name": "renamed", "tags": ["a"]})
    await act(client, path, "start")
    await act(client, path, "fail", reason="budget")

    rows = await audit(client, entity_id=experiment["id"])
    assert [r["action"] for r in rows] == ["fail", "start", "update", "create"]
    failed, started, updated, created = rows
    assert created["changes"]["name"] == {"before": None, "after": "e"}
    assert created["changes"]["tags"] == {"before": None, "after": ["a"]}
    assert created["idempotency_key"] == "k-1"
    assert created["request_id"] == "req-1"  # the client's, kept
    # ... and the server's own, which the client could not choose: one per request.
    assert re.fullmatch(r"[0-9a-f]{32}", created["server_request_id"])
    assert len({row["server_request_id"] for row in rows}) == 4
    for row in (updated, started, failed):  # no X-Request-ID sent: both ids are the server's
        assert row["request_id"] == row["server_request_id"]
    assert updated["changes"] == {"name": {"before": "e", "after": "renamed"}}
    assert started["changes"]["status"] == {"before": "draft", "after": "running"}
    assert failed["changes"]["reason"] == {"before": None, "after": "budget"}
    for row in rows:
        assert row["actor"] == "alice"
        assert row["source"] == "user"
        assert row["entity_type"] == "experiment"
        assert row["client_address"] == "10.1.2.3"


async def test_delete_and_cascades_are_audited(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client, name="gone")
    assert (await client.delete(f"/v1/experiments/{experiment['id']}")).status_code == 204
    (deleted,) = await audit(client, action="delete")
    assert deleted["entity_id"] == experiment["id"]
    assert deleted["changes"]["name"] == {"before": "gone", "after": None}

    run = await create_run(client)
    await act(client, f"/v1/runs/{run['id']}", "start")
    started_experiment = await audit(client, entity_type="experiment", action="start")
    assert [r["source"] for r in started_experiment] == ["system"]


async def test_filters_and_paging(client: httpx.AsyncClient) -> None:
    for index in range(5):
        await create_experiment(client, name=f"e{index}")
    assert len(await audit(client, actor="anonymous")) == 5
    assert await audit(client, actor="somebody-else") == []
    assert await audit(client, entity_type="run") == []
    assert await audit(client, entity_type="webhook") == []  # kinds beyond the lifecycle's
    assert await audit(client, entity_type="api_token") == []
    now = datetime.now(UTC)
    assert len(await audit(client, occurred_after=(now - timedelta(minutes=5)).isoformat())) == 5
    assert await audit(client, occurred_before=(now - timedelta(minutes=5)).isoformat()) == []

    first = (await client.get("/v1/audit", params={"page_size": 2})).json()
    seen = [r["id"] for r in first["items"]]
    token = first["next_page_token"]
    while token:
        page = (await client.get("/v1/audit", params={"page_size": 2, "page_token": token})).json()
        seen += [r["id"] for r in page["items"]]
        token = page["next_page_token"]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"entity_type": "robot"},
        {"entity_id": "x"},
        {"action": "DROP TABLE"},
        {"occurred_after": "2026-02-01T00:00:00Z", "occurred_before": "2026-01-01T00:00:00Z"},
        {"surprise": "1"},
    ],
)
async def test_bad_filters_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/v1/audit", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ],
)
async def test_database_refuses_to_rewrite_the_audit_log(
    client: httpx.AsyncClient, database_url: str, statement: str
) -> None:
    await create_experiment(client)
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute(statement)
        assert await connection.fetchval("SELECT count(*) FROM audit_log") == 1
        assert await connection.fetchval("SELECT actor FROM audit_log") == "anonymous"
    finally:
        await connection.close()
