"""heartbeat_timeout_seconds and max_duration_seconds on experiments and runs: set, read,
cleared, validated."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import create_experiment, create_run


async def test_experiments_carry_the_limits(client: httpx.AsyncClient) -> None:
    plain = await create_experiment(client)
    assert (plain["heartbeat_timeout_seconds"], plain["max_duration_seconds"]) == (None, None)

    limited = await create_experiment(
        client, heartbeat_timeout_seconds=120, max_duration_seconds=86_400
    )
    assert (limited["heartbeat_timeout_seconds"], limited["max_duration_seconds"]) == (120, 86_400)

    path = f"/v1/experiments/{limited['id']}"
    patched = await client.patch(path, json={"heartbeat_timeout_seconds": None})
    assert patched.status_code == 200, patched.text
    assert patched.json()["heartbeat_timeout_seconds"] is None
    assert patched.json()["max_duration_seconds"] == 86_400
    assert (await client.get(path)).json()["heartbeat_timeout_seconds"] is None


async def test_runs_carry_the_limits(client: httpx.AsyncClient) -> None:
    run = await create_run(client, heartbeat_timeout_seconds=30)
    assert (run["heartbeat_timeout_seconds"], run["max_duration_seconds"]) == (30, None)
    patched = await client.patch(f"/v1/runs/{run['id']}", json={"max_duration_seconds": 3600})
    assert patched.status_code == 200, patched.text
    assert patched.json()["max_duration_seconds"] == 3600
    assert patched.json()["heartbeat_timeout_seconds"] == 30


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("heartbeat_timeout_seconds", 9),
        ("heartbeat_timeout_seconds", 7 * 86_400 + 1),
        ("heartbeat_timeout_seconds", "60"),
        ("heartbeat_timeout_seconds", 1.5),
        ("heartbeat_timeout_seconds", True),
        # 60.0 is an integer to JSON Schema, and accepted: tests/test_truthful_openapi.py
        ("max_duration_seconds", 59),
        ("max_duration_seconds", 365 * 86_400 + 1),
    ],
)
async def test_limits_out_of_range_are_422(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    response = await client.post("/v1/experiments", json={"name": "e", field: value})
    assert response.status_code == 422, response.text
    assert any(item["pointer"] == f"/body/{field}" for item in response.json()["errors"])
    experiment = await create_experiment(client)
    response = await client.post(
        f"/v1/experiments/{experiment['id']}/runs", json={"name": "r", field: value}
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("silence", "duration"), [(10, 60), (7 * 86_400, 365 * 86_400)])
async def test_the_bounds_themselves_are_accepted(
    client: httpx.AsyncClient, silence: int, duration: int
) -> None:
    experiment = await create_experiment(
        client, heartbeat_timeout_seconds=silence, max_duration_seconds=duration
    )
    assert experiment["heartbeat_timeout_seconds"] == silence
