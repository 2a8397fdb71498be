"""Small HTTP helpers shared by the tests (they talk to the public API only)."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


async def create_experiment(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "exp")
    response = await client.post("/v1/experiments", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def create_run(
    client: httpx.AsyncClient, experiment_id: str | None = None, **body: Any
) -> dict[str, Any]:
    if experiment_id is None:
        experiment_id = (await create_experiment(client))["id"]
    body.setdefault("name", "run")
    response = await client.post(f"/v1/experiments/{experiment_id}/runs", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def act(
    client: httpx.AsyncClient,
    path: str,
    action: str,
    expect: int = 200,
    **body: Any,
) -> dict[str, Any]:
    """POST a lifecycle action (``/v1/runs/{id}`` + ``start``) and check the status code."""
    response = await client.post(f"{path}/{action}", json=body or None)
    assert response.status_code == expect, response.text
    result: dict[str, Any] = response.json()
    return result


async def history(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await client.get(f"{path}/history", params={"page_size": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
