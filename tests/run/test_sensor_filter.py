"""The ``sensor`` filter reads runs.sensors (migration 0023, ADR 0032): a run matches from the
transaction that links a capture session with the sensor, and stops matching when no session
of the run has it any more; typed filter, filter language, bulk and export alike."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.capture.support import make_capture, make_run


async def _ids(client: httpx.AsyncClient, path: str = "/v1/runs", **params: Any) -> list[str]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_a_run_matches_its_sessions_sensors_as_they_are_linked_and_changed(
    client: httpx.AsyncClient,
) -> None:
    run = await make_run(client, "start")
    other = await make_run(client)
    assert await _ids(client, sensor="imu-1") == []

    first = await make_capture(client, run["id"], sensors=["imu-1", "cam-1"])
    await make_capture(client, other["id"], sensors=["cam-1"])
    assert await _ids(client, sensor="imu-1") == [run["id"]]
    assert await _ids(client, sensor="cam-1", order_by="created_at", order="asc") == [
        run["id"], other["id"],
    ]  # fmt: skip
    second = await make_capture(client, run["id"], "start", sensors=["lidar"])
    assert await _ids(client, sensor=["lidar", "gps"]) == [run["id"]]

    # The first session's sensors change: cam-1 leaves the run, imu-1 stays, gps arrives.
    patched = await client.patch(f"/v1/captures/{first['id']}", json={"sensors": ["imu-1", "gps"]})
    assert patched.status_code == 200, patched.text
    assert await _ids(client, sensor="cam-1") == [other["id"]]
    assert await _ids(client, sensor="gps") == [run["id"]]
    # A sensor another session of the run still has keeps the run matching.
    patched = await client.patch(f"/v1/captures/{second['id']}", json={"sensors": ["imu-1"]})
    assert patched.status_code == 200, patched.text
    assert await _ids(client, sensor="imu-1") == [run["id"]]
    assert await _ids(client, sensor="lidar") == []

    # The same field in the filter language, combined with others.
    assert await _ids(client, filter='sensors:"gps" AND status = "running"') == [run["id"]]
    assert await _ids(client, filter='sensors:"gps" AND status = "draft"') == []
    either = await _ids(client, filter='sensors:"cam-1" OR sensors:"gps"', order="asc")
    assert either == [run["id"], other["id"]]
    exported = await client.get("/v1/runs/export", params={"format": "jsonl", "sensor": "gps"})
    assert exported.status_code == 200, exported.text
    lines = exported.text.splitlines()
    assert len(lines) == 1
    assert run["id"] in lines[0]


async def test_sessions_linked_at_once_to_one_run_all_reach_it(client: httpx.AsyncClient) -> None:
    """Concurrent creates and sensor changes in one run serialise on the run: none is lost,
    none deadlocks."""
    run = await make_run(client, "start")
    captures = await asyncio.gather(
        *(make_capture(client, run["id"], sensors=[f"s-{i}"]) for i in range(6))
    )
    assert all(capture["run_id"] == run["id"] for capture in captures)
    patches = await asyncio.gather(
        *(
            client.patch(f"/v1/captures/{capture['id']}", json={"sensors": [f"t-{i}"]})
            for i, capture in enumerate(captures)
        )
    )
    assert [response.status_code for response in patches] == [200] * 6
    for i in range(6):
        assert await _ids(client, sensor=f"t-{i}") == [run["id"]]
        assert await _ids(client, sensor=f"s-{i}") == []
