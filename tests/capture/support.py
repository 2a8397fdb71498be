"""Building experiments, runs and capture sessions over HTTP for the capture tests."""

from __future__ import annotations

from typing import Any

import httpx


async def make_run(client: httpx.AsyncClient, *actions: str) -> dict[str, Any]:
    """A run in a fresh experiment, taken through ``actions`` (e.g. ``"start", "finish"``)."""
    experiment = await client.post("/v1/experiments", json={"name": "exp"})
    assert experiment.status_code == 201, experiment.text
    run = await client.post(f"/v1/experiments/{experiment.json()['id']}/runs", json={"name": "run"})
    assert run.status_code == 201, run.text
    body: dict[str, Any] = run.json()
    for action in actions:
        payload = {"reason": "broke"} if action == "fail" else None
        done = await client.post(f"/v1/runs/{body['id']}/{action}", json=payload)
        assert done.status_code == 200, done.text
        body = done.json()
    return body


async def make_capture(
    client: httpx.AsyncClient, run_id: str, *actions: str, **fields: Any
) -> dict[str, Any]:
    """A capture session of the run, taken through ``actions``."""
    created = await client.post(f"/v1/runs/{run_id}/captures", json=fields)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    for action in actions:
        done = await act(client, body["id"], action)
        assert done.status_code == 200, done.text
        body = done.json()
    return body


async def act(
    client: httpx.AsyncClient,
    capture_id: str,
    action: str,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    if action == "fail" and reason is None:
        reason = "sensor offline"
    payload = None if reason is None else {"reason": reason}
    return await client.post(f"/v1/captures/{capture_id}/{action}", json=payload, headers=headers)


async def history(client: httpx.AsyncClient, capture_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/captures/{capture_id}/history")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
