"""Experiment grants through the HTTP API: owner, editor and viewer; 404 without a grant; 403
naming the role; at least one owner; every change audited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.event.support import feed_until
from tests.helpers import PROBLEM, act, create_experiment, create_run

Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def as_user(database_url: str) -> AsyncIterator[Client]:
    """A client per principal, each through the gateway's identity header."""
    # The relay on: the event feed serves sequenced events only.
    settings = make_settings(
        database_url, relay_enabled=True, **header_identity("X-User", "10.1.2.0/24")
    )
    app: FastAPI = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def client(principal: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
        made = httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-User": principal}
        )
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        yield client
        for made in clients:
            await made.aclose()


async def grant(
    client: httpx.AsyncClient, experiment_id: str, who: str, role: str, expect: int = 200
) -> httpx.Response:
    response = await client.put(
        f"/v1/experiments/{experiment_id}/grants/principals/{who}", json={"role": role}
    )
    assert response.status_code == expect, response.text
    return response


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


async def test_the_creator_owns_and_others_see_nothing_without_a_grant(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice, name="secret")
    run = await create_run(alice, experiment["id"])

    grants = (await alice.get(f"/v1/experiments/{experiment['id']}/grants")).json()["items"]
    assert [(g["principal"], g["group"], g["role"]) for g in grants] == [("alice", None, "owner")]

    # Unreadable answers exactly like missing: no existence leak.
    missing = "01a23748-0000-7000-8000-000000000000"
    for path in (f"/v1/experiments/{experiment['id']}", f"/v1/runs/{run['id']}"):
        assert_problem(await bob.get(path), 404, path.split("/")[2][:-1] + "-not-found")
    hidden = assert_problem(await bob.get(f"/v1/experiments/{experiment['id']}/grants"), 404,
                            "experiment-not-found")  # fmt: skip
    absent = assert_problem(await bob.get(f"/v1/experiments/{missing}/grants"), 404,
                            "experiment-not-found")  # fmt: skip
    assert hidden["title"] == absent["title"]
    assert (await bob.get("/v1/experiments")).json()["items"] == []
    assert (await bob.get("/v1/runs")).json()["items"] == []
    assert [e["id"] for e in (await alice.get("/v1/experiments")).json()["items"]] == [
        experiment["id"]
    ]
    assert [r["id"] for r in (await alice.get("/v1/runs")).json()["items"]] == [run["id"]]
    # Nor may bob create runs in it: 404, as if it did not exist.
    response = await bob.post(f"/v1/experiments/{experiment['id']}/runs", json={"name": "r"})
    assert_problem(response, 404, "experiment-not-found")


async def test_a_viewer_reads_and_is_told_which_role_a_change_needs(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice)
    run = await create_run(alice, experiment["id"])
    await grant(alice, experiment["id"], "bob", "viewer")

    assert (await bob.get(f"/v1/experiments/{experiment['id']}")).status_code == 200
    assert (await bob.get(f"/v1/runs/{run['id']}")).status_code == 200
    assert [r["id"] for r in (await bob.get("/v1/runs")).json()["items"]] == [run["id"]]

    response = await bob.patch(f"/v1/experiments/{experiment['id']}", json={"name": "mine"})
    body = assert_problem(response, 403, "role-required")
    assert (body["required_role"], body["role"]) == ("editor", "viewer")
    response = await bob.post(f"/v1/experiments/{experiment['id']}/runs", json={"name": "r"})
    assert_problem(response, 403, "role-required")
    response = await bob.put(
        f"/v1/experiments/{experiment['id']}/grants/principals/bob", json={"role": "owner"}
    )
    assert assert_problem(response, 403, "role-required")["required_role"] == "owner"
    # Nothing was changed by the refused requests.
    assert (await alice.get(f"/v1/experiments/{experiment['id']}")).json()["version"] == 1
    assert len((await alice.get("/v1/runs")).json()["items"]) == 1


async def test_an_editor_changes_but_only_an_owner_archives_deletes_and_grants(
    as_user: Client,
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice)
    path = f"/v1/experiments/{experiment['id']}"
    await grant(alice, experiment["id"], "bob", "editor")

    assert (await bob.patch(path, json={"name": "renamed"})).status_code == 200
    run = await create_run(bob, experiment["id"])
    assert run["created_by"] == "bob"
    await act(bob, path, "start")
    await act(bob, path, "finish")
    assert (
        assert_problem(await bob.post(f"{path}/archive"), 403, "role-required")["required_role"]
        == "owner"
    )
    assert_problem(await bob.delete(path), 403, "role-required")
    await act(alice, path, "archive")


async def test_an_experiment_keeps_an_owner_and_ownership_can_be_handed_over(
    as_user: Client,
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice)
    grants = f"/v1/experiments/{experiment['id']}/grants/principals"

    assert_problem(await alice.delete(f"{grants}/alice"), 409, "last-owner")
    response = await alice.put(f"{grants}/alice", json={"role": "viewer"})
    assert_problem(response, 409, "last-owner")

    await grant(alice, experiment["id"], "bob", "owner")
    assert (await alice.delete(f"{grants}/alice")).status_code == 204
    assert (await alice.delete(f"{grants}/alice")).status_code == 404  # no longer readable
    assert (await alice.get(f"/v1/experiments/{experiment['id']}")).status_code == 404
    listed = (await bob.get(f"/v1/experiments/{experiment['id']}/grants")).json()["items"]
    assert [(g["principal"], g["role"], g["granted_by"]) for g in listed] == [
        ("bob", "owner", "alice")
    ]


async def test_grant_changes_are_audited(as_user: Client) -> None:
    alice = as_user("alice")
    experiment = await create_experiment(alice)
    await grant(alice, experiment["id"], "bob", "viewer")
    await grant(alice, experiment["id"], "bob", "viewer")  # no change: no row
    await grant(alice, experiment["id"], "bob", "editor")
    assert (
        await alice.delete(f"/v1/experiments/{experiment['id']}/grants/principals/bob")
    ).status_code == 204

    response = await alice.get(
        "/v1/audit", params={"entity_id": experiment["id"], "action": "grant"}
    )
    assert response.status_code == 200, response.text
    rows = response.json()["items"]
    assert [(r["actor"], r["changes"]) for r in rows] == [
        ("alice", {"grant:principal:bob": {"before": "editor", "after": None}}),
        ("alice", {"grant:principal:bob": {"before": "viewer", "after": "editor"}}),
        ("alice", {"grant:principal:bob": {"before": None, "after": "viewer"}}),
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("principals/bob", {"role": "admin"}),
        ("principals/bob", {"role": "viewer", "extra": 1}),
        ("users/bob", {"role": "viewer"}),
        ("principals/" + "b" * 257, {"role": "viewer"}),
    ],
)
async def test_bad_grants_are_refused_and_change_nothing(
    as_user: Client, path: str, body: dict[str, Any]
) -> None:
    alice = as_user("alice")
    experiment = await create_experiment(alice)
    response = await alice.put(f"/v1/experiments/{experiment['id']}/grants/{path}", json=body)
    assert_problem(response, 422, "validation-error")
    listed = (await alice.get(f"/v1/experiments/{experiment['id']}/grants")).json()["items"]
    assert len(listed) == 1


async def test_runs_and_captures_inherit_the_experiments_roles(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice)
    run = await create_run(alice, experiment["id"])
    response = await alice.post(f"/v1/runs/{run['id']}/captures", json={})
    assert response.status_code == 201, response.text
    capture = response.json()
    run_path, capture_path = f"/v1/runs/{run['id']}", f"/v1/captures/{capture['id']}"

    # No role: every read and change answers as if the objects did not exist.
    assert_problem(await bob.post(f"{run_path}/start"), 404, "run-not-found")
    assert_problem(await bob.patch(run_path, json={"tags": ["x"]}), 404, "run-not-found")
    assert_problem(await bob.get(capture_path), 404, "capture-not-found")
    assert_problem(await bob.post(f"{capture_path}/start"), 404, "capture-not-found")
    assert_problem(await bob.post(f"{run_path}/captures", json={}), 404, "run-not-found")
    assert_problem(await bob.get(f"{run_path}/captures"), 404, "run-not-found")
    assert_problem(await bob.get(f"{run_path}/history"), 404, "run-not-found")
    assert_problem(await bob.get(f"{run_path}/card"), 404, "run-not-found")
    assert_problem(await bob.get(f"{run_path}/artifacts"), 404, "run-not-found")
    assert_problem(await bob.get(f"{capture_path}/history"), 404, "capture-not-found")
    assert (await bob.get("/v1/captures")).json()["items"] == []
    # Not even the experiment's running runs leak through a refused close.
    response = await bob.post(f"/v1/experiments/{experiment['id']}/finish")
    assert_problem(response, 404, "experiment-not-found")

    # Viewer: reads, and every change is 403 naming editor; the draft experiment a refused run
    # start would have started stays a draft.
    await grant(alice, experiment["id"], "bob", "viewer")
    assert (await bob.get(capture_path)).status_code == 200
    assert (await bob.get(f"{run_path}/history")).status_code == 200
    assert (await bob.get(f"{run_path}/card")).status_code == 200
    assert (await bob.get(f"{run_path}/artifacts")).status_code == 200
    assert [c["id"] for c in (await bob.get("/v1/captures")).json()["items"]] == [capture["id"]]
    for response in (
        await bob.post(f"{run_path}/start"),
        await bob.patch(run_path, json={"tags": ["x"]}),
        await bob.post(f"{capture_path}/archive"),
        await bob.patch(capture_path, json={"sensors": ["lidar"]}),
        await bob.post(f"{run_path}/captures", json={}),
        await bob.post(f"/v1/experiments/{experiment['id']}/start"),
    ):
        assert assert_problem(response, 403, "role-required")["required_role"] == "editor"
    assert (await alice.get(f"/v1/experiments/{experiment['id']}")).json()["status"] == "draft"
    assert (await alice.get(run_path)).json()["version"] == run["version"]

    # Editor: changes go through, and are bob's.
    await grant(alice, experiment["id"], "bob", "editor")
    started = await act(bob, run_path, "start")
    assert started["status"] == "running"
    assert (await alice.get(f"/v1/experiments/{experiment['id']}")).json()["status"] == "running"
    response = await bob.post(f"{run_path}/captures", json={})
    assert response.status_code == 201, response.text
    history = (await alice.get(f"{run_path}/history")).json()["items"]
    assert history[0]["actor"] == "bob"


async def test_a_malformed_body_is_400_and_changes_nothing(as_user: Client) -> None:
    alice = as_user("alice")
    experiment = await create_experiment(alice)
    response = await alice.put(
        f"/v1/experiments/{experiment['id']}/grants/principals/bob",
        content=b'{"role": ',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "bad-request")
    listed = (await alice.get(f"/v1/experiments/{experiment['id']}/grants")).json()["items"]
    assert [g["principal"] for g in listed] == ["alice"]


async def test_bulk_acts_only_on_what_the_caller_may_edit(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    shared, private = await create_experiment(alice), await create_experiment(alice)
    await grant(alice, shared["id"], "bob", "viewer")
    viewed = await create_run(alice, shared["id"])
    hidden = await create_run(alice, private["id"])
    mine = await create_experiment(bob)
    own = await create_run(bob, mine["id"])

    # By ids: a run bob may only view, and one he may not see, are both "not found".
    response = await bob.post(
        "/v1/runs/bulk/transition",
        json={"action": "start", "mode": "partial", "ids": [viewed["id"], hidden["id"], own["id"]]},
    )
    assert response.status_code == 200, response.text
    outcomes = {item["id"]: item["outcome"] for item in response.json()["items"]}
    assert outcomes == {viewed["id"]: "not_found", hidden["id"]: "not_found", own["id"]: "ok"}
    for run in (viewed, hidden):
        assert (await alice.get(f"/v1/runs/{run['id']}")).json()["status"] == "draft"

    # By filter: only what bob may edit is selected.
    response = await bob.post(
        "/v1/runs/bulk/tags", json={"add": ["bob"], "filter": {"status": ["draft", "running"]}}
    )
    assert response.status_code == 200, response.text
    assert [item["id"] for item in response.json()["items"]] == [own["id"]]
    response = await bob.post(
        "/v1/experiments/bulk/tags",
        json={"add": ["x"], "mode": "partial", "ids": [shared["id"], mine["id"]]},
    )
    outcomes = {item["id"]: item["outcome"] for item in response.json()["items"]}
    assert outcomes == {shared["id"]: "not_found", mine["id"]: "ok"}
    assert (await alice.get(f"/v1/experiments/{shared['id']}")).json()["tags"] == []


async def test_the_audit_log_and_the_event_feed_show_only_what_the_caller_may_read(
    as_user: Client,
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    shared, private = await create_experiment(alice), await create_experiment(alice)
    await grant(alice, shared["id"], "bob", "viewer")
    shared_run = await create_run(alice, shared["id"])
    private_run = await create_run(alice, private["id"])
    visible = {shared["id"], shared_run["id"]}

    audited = (await bob.get("/v1/audit", params={"page_size": 100})).json()["items"]
    assert {row["entity_id"] for row in audited} == visible
    everything = (await alice.get("/v1/audit", params={"page_size": 100})).json()["items"]
    assert {private["id"], private_run["id"]} <= {row["entity_id"] for row in everything}
    response = await bob.get("/v1/audit", params={"entity_id": private_run["id"]})
    assert response.json()["items"] == []

    # Alice sees all four creations once the relay has sequenced them; bob, two of them.
    alices = await feed_until(alice, 4)
    assert {event["subject"].split("/")[1] for event in alices} == {
        shared["id"],
        shared_run["id"],
        private["id"],
        private_run["id"],
    }
    events = (await bob.get("/v1/events", params={"limit": 1000})).json()["items"]
    assert {event["subject"].split("/")[1] for event in events} == visible
    # Filters narrow what the caller may read, never widen it; the cursor still moves on.
    page = (await bob.get("/v1/events", params={"experiment_id": private["id"]})).json()
    assert page["items"] == []
    assert page["next_cursor"] == alices[-1]["sequence"]
    page = await bob.get("/v1/events", params={"experiment_id": [private["id"], shared["id"]]})
    assert [event["id"] for event in page.json()["items"]] == [event["id"] for event in events]
