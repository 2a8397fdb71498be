"""Capture session lifecycle over HTTP: actions, their run rules, If-Match, status history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from expsvc.app import create_app
from tests.capture.support import act, history, make_capture, make_run
from tests.conftest import header_identity, make_settings
from tests.problems import assert_problem

USER = "X-User"


@pytest.fixture
async def gated(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that takes the actor from an identity header (default: alice)."""
    app = create_app(make_settings(database_url, **header_identity(USER)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={USER: "alice"}
        ) as http:
            yield http


@pytest.mark.parametrize("run_actions", [(), ("start", "finish"), ("start", "fail")])
async def test_start_is_refused_unless_the_run_is_running(
    client: httpx.AsyncClient, run_actions: tuple[str, ...]
) -> None:
    run = await make_run(client)
    capture = await make_capture(client, run["id"])
    for action in run_actions:
        payload = {"reason": "broke"} if action == "fail" else None
        assert (await client.post(f"/v1/runs/{run['id']}/{action}", json=payload)).is_success
    run_status = (await client.get(f"/v1/runs/{run['id']}")).json()["status"]

    problem = assert_problem(await act(client, capture["id"], "start"), 409, "run-not-running")
    assert problem["run_status"] == run_status
    assert problem["run_id"] == run["id"]
    assert run_status in problem["detail"]
    unchanged = (await client.get(f"/v1/captures/{capture['id']}")).json()
    assert unchanged["status"] == "draft"
    assert unchanged["version"] == 1
    assert await history(client, capture["id"]) == []


async def test_start_while_the_run_runs(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"])
    response = await act(client, capture["id"], "start")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "running"
    assert body["started_at"] is not None
    assert body["finished_at"] is None
    assert body["version"] == 2
    assert response.headers["etag"] == '"2"'
    assert (await client.get(f"/v1/captures/{capture['id']}")).json() == body


async def test_stop_finishes_the_session(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], "start")
    response = await act(client, capture["id"], "stop")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "finished"
    assert body["finished_at"] is not None
    assert body["finished_at"] >= body["started_at"]
    assert body["failure_reason"] is None
    # The run is unaffected by its sessions.
    assert (await client.get(f"/v1/runs/{run['id']}")).json()["status"] == "running"


async def test_fail_requires_a_reason_and_records_it(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], "start")
    url = f"/v1/captures/{capture['id']}/fail"
    for payload in (None, {}, {"reason": ""}, {"reason": "x" * 1001}):
        response = await client.post(url, json=payload)
        problem = assert_problem(response, 422, "validation-error")
        assert any(item["pointer"].startswith("/body") for item in problem["errors"])
    response = await client.post(url, json={"reason": "lidar disconnected"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert body["failure_reason"] == "lidar disconnected"
    assert body["finished_at"] is not None


@pytest.mark.parametrize("before", [(), ("start", "stop"), ("start", "fail")])
async def test_archive_from_draft_finished_or_failed(
    client: httpx.AsyncClient, before: tuple[str, ...]
) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], *before)
    response = await act(client, capture["id"], "archive")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "archived"
    assert body["archived_at"] is not None


@pytest.mark.parametrize(
    ("before", "action", "allowed"),
    [
        ((), "stop", ["start", "archive"]),
        ((), "fail", ["start", "archive"]),
        (("start",), "start", ["stop", "fail"]),
        (("start",), "archive", ["stop", "fail"]),
        (("start", "stop"), "start", ["archive"]),
        (("start", "stop"), "stop", ["archive"]),
        (("start", "fail"), "fail", ["archive"]),
        (("archive",), "archive", []),
        (("archive",), "start", []),
    ],
)
async def test_invalid_transition_is_409_naming_the_allowed_actions(
    client: httpx.AsyncClient, before: tuple[str, ...], action: str, allowed: list[str]
) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], *before)
    problem = assert_problem(await act(client, capture["id"], action), 409, "invalid-transition")
    assert problem["allowed_actions"] == allowed
    assert problem["current_status"] == capture["status"]
    after = (await client.get(f"/v1/captures/{capture['id']}")).json()
    assert after == capture


async def test_finish_is_not_a_capture_action(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], "start")
    response = await client.post(f"/v1/captures/{capture['id']}/finish")
    assert response.status_code in (404, 405)


async def test_actions_on_unknown_session_are_404(client: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    for action in ("start", "stop", "fail", "archive"):
        assert_problem(await act(client, missing, action), 404, "capture-not-found")
    response = await client.get(f"/v1/captures/{missing}/history")
    assert_problem(response, 404, "capture-not-found")


async def test_if_match_guards_transitions(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"])
    stale = await act(client, capture["id"], "start", headers={"If-Match": '"7"'})
    assert assert_problem(stale, 412, "precondition-failed")["current_version"] == 1
    started = await act(client, capture["id"], "start", headers={"If-Match": '"1"'})
    assert started.status_code == 200, started.text
    assert started.headers["etag"] == '"2"'
    stale = await act(client, capture["id"], "stop", headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "precondition-failed")
    malformed = await act(client, capture["id"], "stop", headers={"If-Match": "2"})
    assert_problem(malformed, 400, "bad-request")
    stopped = await act(client, capture["id"], "stop", headers={"If-Match": '"2"'})
    assert stopped.json()["status"] == "finished"
    assert len(await history(client, capture["id"])) == 2


async def test_stale_if_match_wins_over_a_run_that_is_not_running(
    client: httpx.AsyncClient,
) -> None:
    run = await make_run(client)
    capture = await make_capture(client, run["id"])
    stale = await act(client, capture["id"], "start", headers={"If-Match": '"5"'})
    assert_problem(stale, 412, "precondition-failed")


async def test_history_newest_first_with_actor_source_and_reason(
    gated: httpx.AsyncClient,
) -> None:
    run = await make_run(gated, "start")
    capture = await make_capture(gated, run["id"])
    granted = await gated.put(
        f"/v1/experiments/{run['experiment_id']}/grants/principals/bob", json={"role": "editor"}
    )
    assert granted.status_code == 200, granted.text
    for action, reason, headers in [
        ("start", "rig ready", {USER: "bob"}),
        ("fail", "lidar lost", None),
        ("archive", None, None),
    ]:
        response = await act(gated, capture["id"], action, reason=reason, headers=headers)
        assert response.status_code == 200, response.text

    rows = await history(gated, capture["id"])
    assert [(r["from_status"], r["to_status"]) for r in rows] == [
        ("failed", "archived"),
        ("running", "failed"),
        ("draft", "running"),
    ]
    assert [r["actor"] for r in rows] == ["alice", "alice", "bob"]
    assert [r["reason"] for r in rows] == [None, "lidar lost", "rig ready"]
    assert {r["source"] for r in rows} == {"user"}
    assert {r["entity_type"] for r in rows} == {"capture"}
    assert {r["entity_id"] for r in rows} == {capture["id"]}

    page = (await gated.get(f"/v1/captures/{capture['id']}/history?page_size=2")).json()
    assert [r["id"] for r in page["items"]] == [r["id"] for r in rows[:2]]
    rest = await gated.get(
        f"/v1/captures/{capture['id']}/history",
        params={"page_size": 2, "page_token": page["next_page_token"]},
    )
    assert [r["id"] for r in rest.json()["items"]] == [rows[2]["id"]]


@pytest.mark.parametrize(
    ("run_action", "payload", "reason"),
    [("finish", None, "run_finished"), ("fail", {"reason": "oom"}, "run_failed")],
)
async def test_closing_the_run_stops_its_running_sessions(
    gated: httpx.AsyncClient, run_action: str, payload: dict[str, str] | None, reason: str
) -> None:
    run = await make_run(gated, "start")
    running = [await make_capture(gated, run["id"], "start") for _ in range(2)]
    draft = await make_capture(gated, run["id"])
    stopped = await make_capture(gated, run["id"], "start", "stop")
    other_run = await make_run(gated, "start")
    elsewhere = await make_capture(gated, other_run["id"], "start")
    granted = await gated.put(
        f"/v1/experiments/{run['experiment_id']}/grants/principals/carol", json={"role": "editor"}
    )
    assert granted.status_code == 200, granted.text

    response = await gated.post(
        f"/v1/runs/{run['id']}/{run_action}", json=payload, headers={USER: "carol"}
    )
    assert response.status_code == 200, response.text

    for capture in running:
        after = (await gated.get(f"/v1/captures/{capture['id']}")).json()
        assert after["status"] == "finished"
        assert after["finished_at"] is not None
        assert after["failure_reason"] is None
        assert after["version"] == capture["version"] + 1
        latest, *earlier = await history(gated, capture["id"])
        assert (latest["from_status"], latest["to_status"]) == ("running", "finished")
        assert (latest["source"], latest["reason"], latest["actor"]) == ("system", reason, "carol")
        assert len(earlier) == 1
    for untouched in (draft, stopped, elsewhere):
        assert (await gated.get(f"/v1/captures/{untouched['id']}")).json() == untouched
    listed = await gated.get(f"/v1/runs/{run['id']}/captures", params={"status": "running"})
    assert listed.json()["items"] == []
    # The draft session can no longer start: its run is closed.
    refused = await act(gated, draft["id"], "start")
    assert (
        assert_problem(refused, 409, "run-not-running")["run_status"] == response.json()["status"]
    )


async def test_concurrent_stop_and_fail_one_wins(client: httpx.AsyncClient) -> None:
    run = await make_run(client, "start")
    for _ in range(5):
        capture = await make_capture(client, run["id"], "start")
        stop, fail = await asyncio.gather(
            act(client, capture["id"], "stop"), act(client, capture["id"], "fail", "broke")
        )
        winners = [r for r in (stop, fail) if r.status_code == 200]
        losers = [r for r in (stop, fail) if r.status_code != 200]
        assert len(winners) == 1, [stop.text, fail.text]
        problem = assert_problem(losers[0], 409, "invalid-transition")
        assert problem["allowed_actions"] == ["archive"]
        final = (await client.get(f"/v1/captures/{capture['id']}")).json()
        assert final == winners[0].json()
        assert final["version"] == 3
        rows = await history(client, capture["id"])
        assert [(r["from_status"], r["to_status"]) for r in rows] == [
            ("running", final["status"]),
            ("draft", "running"),
        ]


async def test_start_racing_the_run_finish_never_leaves_a_running_session(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        run = await make_run(client, "start")
        capture = await make_capture(client, run["id"])
        start, finish = await asyncio.gather(
            act(client, capture["id"], "start"), client.post(f"/v1/runs/{run['id']}/finish")
        )
        assert finish.status_code == 200, finish.text
        final = (await client.get(f"/v1/captures/{capture['id']}")).json()
        if start.status_code == 200:  # started first: the finish stopped it
            assert final["status"] == "finished"
            assert [r["source"] for r in await history(client, capture["id"])] == [
                "system",
                "user",
            ]
        else:
            assert_problem(start, 409, "run-not-running")
            assert final["status"] == "draft"
