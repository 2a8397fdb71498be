"""Webhooks belong to their creator: only the owner (or an admin) sees and manages one, a
principal owns a bounded number, and a webhook receives only events of experiments its owner
may read, decided when each event fans out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.helpers import create_experiment, create_run
from tests.problems import assert_problem
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Receiver, Reply
from tests.webhook.support import create_webhook

Client = Callable[..., httpx.AsyncClient]
PEER = ("10.1.2.3", 4567)


@pytest.fixture
async def as_user(database_url: str) -> AsyncIterator[Client]:
    settings = make_settings(
        database_url,
        webhook_max_per_owner=2,
        admin_principals="root",
        admin_groups="sre",
        groups_header="X-Groups",
        **{**WEBHOOK_SETTINGS, "webhook_retry_schedule": (1.5, 1.5)},
        **header_identity("X-User", "10.1.2.0/24"),
    )
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def client(principal: str, groups: str = "") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=PEER)
        headers = {"X-User": principal, **({"X-Groups": groups} if groups else {})}
        made = httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        yield client
        for made in clients:
            await made.aclose()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    first, second = Receiver().start(), Receiver().start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_only_the_owner_or_an_admin_sees_and_manages_a_webhook(as_user: Client) -> None:
    alice, bob, root = as_user("alice"), as_user("bob"), as_user("root")
    hook = await create_webhook(alice, "http://127.0.0.1:9/hook")
    path = f"/v1/webhooks/{hook['id']}"

    for response in (
        await bob.get(path),
        await bob.patch(path, json={"description": "mine"}),
        await bob.post(f"{path}/rotate-secret"),
        await bob.get(f"{path}/deliveries"),
        await bob.delete(path),
    ):
        assert_problem(response, 404, "webhook-not-found")
    assert (await bob.get("/v1/webhooks")).json()["items"] == []
    assert [h["id"] for h in (await alice.get("/v1/webhooks")).json()["items"]] == [hook["id"]]
    assert [h["id"] for h in (await root.get("/v1/webhooks")).json()["items"]] == [hook["id"]]
    assert (await root.get(path)).status_code == 200
    assert (await alice.get(path)).json()["description"] == ""  # bob's change did not land


async def test_a_principal_owns_at_most_the_configured_number(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    for _ in range(2):
        await create_webhook(alice, "http://127.0.0.1:9/hook")
    response = await alice.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    body = assert_problem(response, 409, "webhook-limit-reached")
    assert body["limit"] == 2
    assert len((await alice.get("/v1/webhooks")).json()["items"]) == 2
    await create_webhook(bob, "http://127.0.0.1:9/hook")  # the limit is per owner


async def test_a_webhook_receives_only_what_its_owner_may_read(
    as_user: Client, receivers: tuple[Receiver, Receiver]
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    to_alice, to_bob = receivers
    await create_webhook(alice, to_alice.url, event_types=["run.created"])
    await create_webhook(bob, to_bob.url, event_types=["run.created"])
    experiment = await create_experiment(alice)

    hidden = await create_run(alice, experiment["id"])
    await to_alice.wait_for(1)
    await asyncio.sleep(0.5)  # time for a wrong delivery to bob to arrive, if one were made
    assert to_bob.requests() == []

    response = await alice.put(
        f"/v1/experiments/{experiment['id']}/grants/principals/bob", json={"role": "viewer"}
    )
    assert response.status_code == 200, response.text
    shared = await create_run(alice, experiment["id"])
    (received,) = await to_bob.wait_for(1)
    assert json.loads(received.body)["subject"] == f"runs/{shared['id']}"
    runs_to_alice = [json.loads(r.body)["subject"] for r in await to_alice.wait_for(2)]
    assert runs_to_alice == [f"runs/{hidden['id']}", f"runs/{shared['id']}"]


async def test_a_revoked_grant_stops_deliveries_already_queued(
    as_user: Client, receivers: tuple[Receiver, Receiver]
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    to_bob, _ = receivers
    to_bob.script(Reply(status=500))  # the first attempt fails: a retry is queued
    hook = await create_webhook(bob, to_bob.url, event_types=["run.created"])
    experiment = await create_experiment(alice)
    grants = f"/v1/experiments/{experiment['id']}/grants/principals/bob"
    assert (await alice.put(grants, json={"role": "viewer"})).status_code == 200
    await create_run(alice, experiment["id"])
    await to_bob.wait_for(1)

    assert (await alice.delete(grants)).status_code == 204  # before the retry is due
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        response = await bob.get(f"/v1/webhooks/{hook['id']}/deliveries")
        (delivery,) = response.json()["items"]
        if delivery["status"] == "abandoned":
            break
        assert asyncio.get_running_loop().time() < deadline, delivery
        await asyncio.sleep(0.2)
    assert "may no longer read" in delivery["last_error"]
    assert len(to_bob.requests()) == 1  # the retry was never sent


async def test_an_experiment_filter_names_only_experiments_the_owner_may_read(
    as_user: Client,
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    experiment = await create_experiment(alice)
    body = {"url": "http://127.0.0.1:9/hook", "experiment_ids": [experiment["id"]]}
    # Not readable answers as a missing experiment would: nothing about it leaks.
    problem = assert_problem(
        await bob.post("/v1/webhooks", json=body), 422, "webhook-experiments-not-found"
    )
    assert problem["experiment_ids"] == [experiment["id"]]

    grants = f"/v1/experiments/{experiment['id']}/grants/principals/bob"
    assert (await alice.put(grants, json={"role": "viewer"})).status_code == 200
    created = await create_webhook(bob, **body)
    assert created["experiment_ids"] == [experiment["id"]]


async def test_a_role_granted_to_a_group_of_the_owner_delivers_until_it_leaves(
    as_user: Client, receivers: tuple[Receiver, Receiver]
) -> None:
    alice, root = as_user("alice"), as_user("root")
    to_bob, to_root = receivers
    bob_in_team = as_user("bob", groups="ml-team,vision")
    hook = await create_webhook(bob_in_team, to_bob.url, event_types=["run.created"])
    assert hook["owner_groups"] == ["ml-team", "vision"]
    await create_webhook(root, to_root.url, event_types=["run.created"])  # sees every run
    experiment = await create_experiment(alice)
    grant = f"/v1/experiments/{experiment['id']}/grants/groups/ml-team"
    assert (await alice.put(grant, json={"role": "viewer"})).status_code == 200

    shared = await create_run(alice, experiment["id"])
    (received,) = await to_bob.wait_for(1)
    assert json.loads(received.body)["subject"] == f"runs/{shared['id']}"

    # An admin's change leaves the owner's groups; the owner's own change refreshes them.
    path = f"/v1/webhooks/{hook['id']}"
    changed = await root.patch(path, json={"description": "checked"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["owner_groups"] == ["ml-team", "vision"]
    left = await as_user("bob", groups="vision").patch(path, json={})
    assert left.status_code == 200, left.text
    assert left.json()["owner_groups"] == ["vision"]
    audit = await root.get("/v1/audit", params={"entity_id": hook["id"]})
    refreshed = [row for row in audit.json()["items"] if "owner_groups" in row["changes"]]
    assert refreshed[0]["changes"]["owner_groups"] == {
        "before": ["ml-team", "vision"],
        "after": ["vision"],
    }

    hidden = await create_run(alice, experiment["id"])
    runs_to_root = [json.loads(r.body)["subject"] for r in await to_root.wait_for(2)]
    assert runs_to_root == [f"runs/{shared['id']}", f"runs/{hidden['id']}"]
    await asyncio.sleep(0.5)  # time for a wrong delivery to bob to arrive, if one were made
    assert len(to_bob.requests()) == 1


async def test_an_owner_in_an_admin_group_receives_every_experiments_events(
    as_user: Client, receivers: tuple[Receiver, Receiver]
) -> None:
    alice = as_user("alice")
    to_sre, _ = receivers
    await create_webhook(as_user("carol", groups="sre"), to_sre.url, event_types=["run.created"])
    experiment = await create_experiment(alice)  # no grant to carol or to sre
    run = await create_run(alice, experiment["id"])
    (received,) = await to_sre.wait_for(1)
    assert json.loads(received.body)["subject"] == f"runs/{run['id']}"
