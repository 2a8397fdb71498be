"""Shared by the bulk tests: requests, runs made in bulk with SQL, counts straight from the
database (to prove a refused request wrote nothing)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from tests.helpers import act, create_experiment, create_run

TRANSITION = "/v1/runs/bulk/transition"
RUN_TAGS = "/v1/runs/bulk/tags"
EXPERIMENT_TAGS = "/v1/experiments/bulk/tags"
TABLES = ("status_history", "outbox_events", "audit_log")


async def bulk(client: httpx.AsyncClient, path: str, **body: Any) -> httpx.Response:
    return await client.post(path, json=body)


async def bulk_ok(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    response = await bulk(client, path, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def runs_in(
    client: httpx.AsyncClient, count: int, *actions: str, experiment_id: str | None = None
) -> list[dict[str, Any]]:
    """``count`` runs of one experiment (a new draft one unless given), through ``actions``."""
    if experiment_id is None:
        experiment_id = (await create_experiment(client))["id"]
    runs = []
    for _ in range(count):
        run = await create_run(client, experiment_id)
        for action in actions:
            body = {"reason": "broke"} if action == "fail" else {}
            run = await act(client, f"/v1/runs/{run['id']}", action, **body)
        runs.append(run)
    return runs


def ids(*groups: list[dict[str, Any]]) -> list[str]:
    return [entity["id"] for group in groups for entity in group]


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in result["items"]}


async def get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def insert_runs(database_url: str, experiment_id: str, count: int, **values: Any) -> None:
    """``count`` runs of the experiment (drafts unless ``status``), inserted with one SQL
    statement."""
    status = values.get("status", "draft")
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            # The times the lifecycle sets (migration 0022's checks): started once not a
            # draft, ended once finished or failed.
            "INSERT INTO runs (id, experiment_id, name, status, created_by, started_at, "
            "finished_at) SELECT gen_random_uuid(), $1, 'r' || g, $3::text, 'test', "
            "CASE WHEN $3::text = 'draft' THEN NULL ELSE now() END, "
            "CASE WHEN $3::text IN ('finished', 'failed') THEN now() END "
            "FROM generate_series(1, $2) AS g",
            uuid.UUID(experiment_id),
            count,
            status,
        )
    finally:
        await connection.close()


async def row_counts(database_url: str) -> dict[str, int]:
    """Rows in the history, outbox and audit tables."""
    connection = await asyncpg.connect(database_url)
    try:
        return {
            table: await connection.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in TABLES
        }
    finally:
        await connection.close()


async def audit(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every audit row the filters select (all pages)."""
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        query = {"page_size": 1000, **params, **({"page_token": token} if token else {})}
        response = await client.get("/v1/audit", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["items"]
        token = page["next_page_token"]
        if token is None:
            return rows
