"""Capture sessions over HTTP: create, read, list, change sensors. Lifecycle: test_lifecycle.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from expsvc.capture.repository import CaptureRepository
from tests.capture.support import act, make_capture, make_run
from tests.problems import assert_problem

READ_FIELDS = {
    "id", "run_id", "capture_session_id", "status", "sensors", "failure_reason", "created_by",
    "created_at", "updated_at", "started_at", "finished_at", "archived_at", "last_telemetry_at",
    "version",
}  # fmt: skip


async def count_captures(client: httpx.AsyncClient) -> int:
    return len((await client.get("/v1/captures", params={"page_size": 1000})).json()["items"])


async def test_create_without_id_uses_the_session_id(client: httpx.AsyncClient) -> None:
    run = await make_run(client)
    response = await client.post(
        f"/v1/runs/{run['id']}/captures", json={"sensors": ["imu-2", "cam.front", "imu-2"]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == READ_FIELDS
    assert uuid.UUID(body["id"]).version == 7
    assert body["capture_session_id"] == body["id"]
    assert body["run_id"] == run["id"]
    assert body["status"] == "draft"
    assert body["sensors"] == ["cam.front", "imu-2"]
    assert body["created_by"] == "anonymous"
    assert body["version"] == 1
    assert body["created_at"].endswith("Z")
    for unset in ("failure_reason", "started_at", "finished_at", "archived_at"):
        assert body[unset] is None
    assert body["last_telemetry_at"] is None
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == f"/v1/captures/{body['id']}"

    fetched = await client.get(f"/v1/captures/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert fetched.headers["etag"] == '"1"'


async def test_create_with_client_id_and_no_sensors(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    body = await make_capture(client, run["id"], capture_session_id="ti:2026-11-26.cam_0")
    assert body["capture_session_id"] == "ti:2026-11-26.cam_0"
    assert body["sensors"] == []
    assert body["status"] == "draft"


async def test_limits_are_inclusive(client: httpx.AsyncClient) -> None:
    run = await make_run(client)
    sensors = [f"s{i:03}" for i in range(256)]
    body = await make_capture(client, run["id"], capture_session_id="c" * 128, sensors=sensors)
    assert body["capture_session_id"] == "c" * 128
    assert body["sensors"] == sensors
    body = await make_capture(client, run["id"], sensors=["s" * 128])
    assert body["sensors"] == ["s" * 128]


async def test_duplicate_capture_session_id_is_409_and_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    run, other_run = await make_run(client), await make_run(client)
    first = await make_capture(client, run["id"], capture_session_id="ti-1")
    for target in (run, other_run):
        response = await client.post(
            f"/v1/runs/{target['id']}/captures", json={"capture_session_id": "ti-1"}
        )
        problem = assert_problem(response, 409, "capture-session-id-taken")
        assert problem["capture_session_id"] == "ti-1"
        assert "ti-1" in problem["detail"]
    listed = (await client.get("/v1/captures")).json()["items"]
    assert [item["id"] for item in listed] == [first["id"]]


async def test_duplicate_missed_by_the_lookup_is_still_refused_by_the_constraint(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await make_run(client)
    await make_capture(client, run["id"], capture_session_id="ti-race")

    async def never_taken(self: CaptureRepository, capture_session_id: str) -> bool:
        return False  # as if a concurrent create committed between lookup and INSERT

    monkeypatch.setattr(CaptureRepository, "id_taken", never_taken)
    response = await client.post(
        f"/v1/runs/{run['id']}/captures", json={"capture_session_id": "ti-race"}
    )
    assert_problem(response, 409, "capture-session-id-taken")
    assert await count_captures(client) == 1


async def test_concurrent_creates_of_one_id_make_one_session(client: httpx.AsyncClient) -> None:
    run = await make_run(client)
    url = f"/v1/runs/{run['id']}/captures"
    responses = await asyncio.gather(
        *(client.post(url, json={"capture_session_id": "ti-same"}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "capture-session-id-taken")
    assert await count_captures(client) == 1


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"capture_session_id": ""}, "/body/capture_session_id"),
        ({"capture_session_id": "c" * 129}, "/body/capture_session_id"),
        ({"capture_session_id": "-leading"}, "/body/capture_session_id"),
        ({"capture_session_id": "has space"}, "/body/capture_session_id"),
        ({"capture_session_id": "a/b"}, "/body/capture_session_id"),
        ({"capture_session_id": 42}, "/body/capture_session_id"),
        ({"sensors": ["bad sensor"]}, "/body/sensors/0"),
        ({"sensors": ["ok", ""]}, "/body/sensors/1"),
        ({"sensors": ["s" * 129]}, "/body/sensors/0"),
        ({"sensors": ["_lead"]}, "/body/sensors/0"),
        ({"sensors": [f"s{i}" for i in range(257)]}, "/body/sensors"),
        ({"sensors": "imu"}, "/body/sensors"),
        ({"sensors": None}, "/body/sensors"),
        ({"status": "running"}, "/body/status"),
        ({"id": str(uuid.uuid4())}, "/body/id"),
        ({"run_id": str(uuid.uuid4())}, "/body/run_id"),
        ({"last_telemetry_at": "2026-11-26T00:00:00Z"}, "/body/last_telemetry_at"),
    ],
)
async def test_create_refuses_bad_input_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    run = await make_run(client)
    response = await client.post(f"/v1/runs/{run['id']}/captures", json=body)
    problem = assert_problem(response, 422, "validation-error")
    assert pointer in [item["pointer"] for item in problem["errors"]]
    assert await count_captures(client) == 0


async def test_create_in_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.post(f"/v1/runs/{missing}/captures", json={})
    problem = assert_problem(response, 404, "run-not-found")
    assert str(missing) in problem["detail"]
    response = await client.post("/v1/runs/not-a-uuid/captures", json={})
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["pointer"] == "/path/run_id"


@pytest.mark.parametrize(
    ("actions", "run_status"),
    [(("start", "finish"), "finished"), (("start", "fail"), "failed"), (("archive",), "archived")],
)
async def test_create_in_closed_run_is_409(
    client: httpx.AsyncClient, actions: tuple[str, ...], run_status: str
) -> None:
    run = await make_run(client, *actions)
    response = await client.post(f"/v1/runs/{run['id']}/captures", json={"sensors": ["imu"]})
    problem = assert_problem(response, 409, "run-closed")
    assert problem["run_status"] == run_status
    assert run_status in problem["detail"]
    assert await count_captures(client) == 0


async def test_get_unknown_is_404_and_malformed_id_422(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    problem = assert_problem(await client.get(f"/v1/captures/{missing}"), 404, "capture-not-found")
    assert str(missing) in problem["detail"]
    problem = assert_problem(await client.get("/v1/captures/nope"), 422, "validation-error")
    assert problem["errors"][0]["pointer"] == "/path/capture_id"


async def ids(client: httpx.AsyncClient, url: str, **params: Any) -> list[str]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_filters(client: httpx.AsyncClient) -> None:
    run_a, run_b = await make_run(client, "start"), await make_run(client, "start")
    a1 = await make_capture(client, run_a["id"], sensors=["imu", "cam"])
    a2 = await make_capture(client, run_a["id"], "start", sensors=["imu"])
    a3 = await make_capture(client, run_a["id"], "start", "stop", capture_session_id="ti-a3")
    b1 = await make_capture(client, run_b["id"], "start", "fail", sensors=["cam", "lidar"])
    every = [b1["id"], a3["id"], a2["id"], a1["id"]]  # newest first

    assert await ids(client, "/v1/captures") == every
    assert await ids(client, "/v1/captures", run_id=run_a["id"]) == every[1:]
    assert await ids(client, "/v1/captures", status="running") == [a2["id"]]
    assert await ids(client, "/v1/captures", status=["draft", "failed"]) == [b1["id"], a1["id"]]
    assert await ids(client, "/v1/captures", sensor="imu") == [a2["id"], a1["id"]]
    assert await ids(client, "/v1/captures", sensor="cam") == [b1["id"], a1["id"]]
    assert await ids(client, "/v1/captures", sensor=["cam", "imu"]) == [a1["id"]]
    assert await ids(client, "/v1/captures", sensor="gps") == []
    assert await ids(client, "/v1/captures", capture_session_id="ti-a3") == [a3["id"]]
    assert await ids(client, "/v1/captures", capture_session_id=a1["id"]) == [a1["id"]]
    assert await ids(client, "/v1/captures", capture_session_id="ti-a") == []
    assert await ids(client, "/v1/captures", run_id=run_b["id"], sensor="imu") == []
    assert await ids(client, "/v1/captures", run_id=str(uuid.uuid4())) == []

    url = f"/v1/runs/{run_a['id']}/captures"
    assert await ids(client, url) == every[1:]
    assert await ids(client, url, status=["running", "finished"]) == [a3["id"], a2["id"]]
    assert await ids(client, url, sensor="cam") == [a1["id"]]
    assert await ids(client, url, capture_session_id="ti-a3") == [a3["id"]]
    assert await ids(client, f"/v1/runs/{run_b['id']}/captures", status="failed") == [b1["id"]]


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"status": "paused"}, "/query/status/0"),
        ({"sensor": "bad sensor"}, "/query/sensor/0"),
        ({"sensor": [f"s{i}" for i in range(17)]}, "/query/sensor"),
        ({"capture_session_id": "x" * 129}, "/query/capture_session_id"),
        ({"run_id": "nope"}, "/query/run_id"),
        ({"page_size": 0}, "/query/page_size"),
        ({"page_size": 1001}, "/query/page_size"),
    ],
)
async def test_list_refuses_bad_filters(
    client: httpx.AsyncClient, params: dict[str, Any], pointer: str
) -> None:
    problem = assert_problem(
        await client.get("/v1/captures", params=params), 422, "validation-error"
    )
    assert pointer in [item["pointer"] for item in problem["errors"]]


async def test_run_list_of_unknown_run_is_404_and_takes_no_run_filter(
    client: httpx.AsyncClient,
) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.get(f"/v1/runs/{missing}/captures"), 404, "run-not-found")
    run = await make_run(client)
    response = await client.get(f"/v1/runs/{run['id']}/captures", params={"run_id": str(missing)})
    problem = assert_problem(response, 422, "validation-error")
    assert "/query/run_id" in [item["pointer"] for item in problem["errors"]]


async def collect(client: httpx.AsyncClient, url: str, **params: Any) -> tuple[list[str], int]:
    """Every id over every page of ``url``, and the number of pages."""
    seen: list[str] = []
    token, pages = None, 0
    while True:
        query = {**params, "page_size": 3, **({"page_token": token} if token else {})}
        response = await client.get(url, params=query)
        assert response.status_code == 200, response.text
        seen.extend(item["id"] for item in response.json()["items"])
        pages += 1
        token = response.json()["next_page_token"]
        if token is None:
            return seen, pages


async def test_pages_newest_first_without_gaps_or_repeats(client: httpx.AsyncClient) -> None:
    run, other = await make_run(client), await make_run(client)
    mine = [(await make_capture(client, run["id"], sensors=["imu"]))["id"] for _ in range(7)]
    theirs = [(await make_capture(client, other["id"]))["id"] for _ in range(2)]

    assert await collect(client, f"/v1/runs/{run['id']}/captures") == (mine[::-1], 3)
    assert await collect(client, "/v1/captures", sensor="imu") == (mine[::-1], 3)
    everything, pages = await collect(client, "/v1/captures")
    assert everything == (mine + theirs)[::-1]
    assert pages == 3


async def test_page_token_of_another_query_is_400(client: httpx.AsyncClient) -> None:
    run = await make_run(client)
    for _ in range(3):
        await make_capture(client, run["id"])
    first = (await client.get("/v1/captures", params={"page_size": 2})).json()
    token = first["next_page_token"]
    assert token is not None
    response = await client.get(
        "/v1/captures", params={"page_size": 2, "page_token": token, "status": "running"}
    )
    assert_problem(response, 400, "invalid-page-token")
    response = await client.get("/v1/captures", params={"page_token": "garbage"})
    assert_problem(response, 400, "invalid-page-token")
    # Outside the declared base64url pattern: refused before it is read, as any invalid query.
    response = await client.get("/v1/captures", params={"page_token": "garbage!"})
    assert_problem(response, 422, "validation-error")


async def test_patch_replaces_sensors_while_draft_or_running(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], sensors=["imu"])
    url = f"/v1/captures/{capture['id']}"
    response = await client.patch(url, json={"sensors": ["lidar", "cam", "cam"]})
    assert response.status_code == 200, response.text
    assert response.json()["sensors"] == ["cam", "lidar"]
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'

    await act(client, capture["id"], "start")
    response = await client.patch(url, json={"sensors": []}, headers={"If-Match": '"3"'})
    assert response.status_code == 200, response.text
    assert response.json()["sensors"] == []

    stale = await client.patch(url, json={"sensors": ["x"]}, headers={"If-Match": '"3"'})
    assert assert_problem(stale, 412, "precondition-failed")["current_version"] == 4

    await act(client, capture["id"], "stop")
    closed = await client.patch(url, json={"sensors": ["imu"]})
    assert assert_problem(closed, 409, "capture-closed")["current_status"] == "finished"
    assert (await client.get(url)).json()["sensors"] == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"sensors": None}, "/body"),
        ({"sensors": ["no spaces"]}, "/body/sensors/0"),
        ({"capture_session_id": "new"}, "/body/capture_session_id"),
        ({"status": "running"}, "/body/status"),
    ],
)
async def test_patch_refuses_bad_input(
    client: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    run = await make_run(client)
    capture = await make_capture(client, run["id"])
    response = await client.patch(f"/v1/captures/{capture['id']}", json=body)
    problem = assert_problem(response, 422, "validation-error")
    assert pointer in [item["pointer"] for item in problem["errors"]]


async def test_patch_unknown_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"/v1/captures/{uuid.uuid4()}", json={"sensors": []})
    assert_problem(response, 404, "capture-not-found")


async def test_openapi_names_the_operations(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "create_capture", "get_capture", "list_captures", "list_run_captures", "update_capture",
        "start_capture", "stop_capture", "fail_capture", "archive_capture", "get_capture_history",
    } <= operations  # fmt: skip
    assert "finish_capture" not in operations


async def test_create_retried_with_an_idempotency_key_replays_the_session(
    client: httpx.AsyncClient,
) -> None:
    run = await make_run(client)
    url = f"/v1/runs/{run['id']}/captures"
    body = {"capture_session_id": "ti-retry", "sensors": ["imu"]}
    first = await client.post(url, json=body, headers={"Idempotency-Key": "ingest-1"})
    again = await client.post(url, json=body, headers={"Idempotency-Key": "ingest-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_captures(client) == 1
