"""Webhook changes are audit rows (entity type ``webhook``), written in the change's own
transaction, without a secret, and read only by admins."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.helpers import create_experiment
from tests.problems import assert_problem
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Receiver, Reply
from tests.webhook.support import create_webhook, delivery_when, webhook_when

Client = Callable[[str], httpx.AsyncClient]
PEER = ("10.1.2.3", 4567)
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
async def as_user(database_url: str, webhook_overrides: dict[str, Any]) -> AsyncIterator[Client]:
    """Clients of one app in header mode, by principal; ``root`` is an admin."""
    settings = make_settings(
        database_url,
        webhook_max_per_owner=2,
        admin_principals="root",
        **{**WEBHOOK_SETTINGS, **webhook_overrides},
        **header_identity("X-User", "10.1.2.0/24"),
    )
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def client(principal: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=PEER)
        made = httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-User": principal}
        )
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        yield client
        for made in clients:
            await made.aclose()


async def audit(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit", params={"page_size": 1000, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def stored_rows(database_url: str) -> list[str]:
    """Every audit row about a webhook, whole, as JSON text, oldest first."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT to_jsonb(a)::text AS raw FROM audit_log AS a "
            "WHERE entity_type = 'webhook' ORDER BY id"
        )
        return [row["raw"] for row in rows]
    finally:
        await connection.close()


async def stored_secrets(database_url: str) -> list[str]:
    """The webhooks' secrets as stored (encrypted)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT secret, previous_secret FROM webhook_endpoints")
        return [value for row in rows for value in row.values() if value is not None]
    finally:
        await connection.close()


async def test_each_webhook_change_is_one_audit_row_without_a_secret(
    as_user: Client, database_url: str, receiver: Receiver
) -> None:
    alice, root = as_user("alice"), as_user("root")
    created = await alice.post(
        "/v1/webhooks",
        json={"url": receiver.url, "event_types": ["experiment.created"], "description": "d"},
        headers={"Idempotency-Key": "hook-1", "X-Request-ID": "req-1"},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    path = f"/v1/webhooks/{hook['id']}"
    await create_experiment(alice)
    delivered = await delivery_when(alice, hook["id"], lambda d: d["status"] == "succeeded")

    updated = await alice.patch(path, json={"description": "e", "event_types": []})
    assert updated.status_code == 200, updated.text
    rotated = await alice.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    redelivered = await alice.post(f"{path}/deliveries/{delivered['id']}/redeliver")
    assert redelivered.status_code == 202, redelivered.text
    assert (await alice.delete(path)).status_code == 204

    rows = await audit(root, entity_type="webhook")
    assert [r["action"] for r in rows] == [
        "delete",
        "redeliver",
        "rotate_secret",
        "update",
        "create",
    ]
    deleted, redelivery, rotation, update, creation = rows
    for row in rows:
        assert (row["actor"], row["source"]) == ("alice", "user")
        assert (row["entity_type"], row["entity_id"]) == ("webhook", hook["id"])
        assert row["client_address"] == PEER[0]
        assert re.fullmatch(r"[0-9a-f]{32}", row["server_request_id"])
    assert (creation["request_id"], creation["idempotency_key"]) == ("req-1", "hook-1")
    assert creation["changes"]["url"] == {"before": None, "after": receiver.url}
    assert creation["changes"]["event_types"] == {"before": None, "after": ["experiment.created"]}
    assert creation["changes"]["created_by"] == {"before": None, "after": "alice"}
    assert {"id", "version", "updated_at", "secret", "previous_secret"}.isdisjoint(
        creation["changes"]
    )
    assert update["changes"] == {
        "description": {"before": "d", "after": "e"},
        "event_types": {"before": ["experiment.created"], "after": []},
    }
    expires = rotated.json()["previous_secret_expires_at"]
    (expiry,) = rotation["changes"].values()
    assert rotation["changes"].keys() == {"previous_secret_expires_at"}
    assert expiry["before"] is None
    assert expiry["after"].replace("Z", "+00:00") == expires.replace("Z", "+00:00")
    assert redelivery["changes"] == {
        f"delivery:{delivered['id']}": {
            "before": {"status": "succeeded", "max_attempts": delivered["max_attempts"]},
            "after": {"status": "pending", "max_attempts": 2},  # this one attempt more
        }
    }
    assert deleted["changes"]["url"] == {"before": receiver.url, "after": None}
    assert deleted["changes"]["description"] == {"before": "e", "after": None}

    # No secret, in clear or as stored, anywhere in any of the rows.
    stored = await stored_rows(database_url)
    assert len(stored) == 5
    secrets = [hook["secret"], rotated.json()["secret"]]
    assert all(secret.startswith("whsec_") for secret in secrets)
    for raw in stored:
        assert "whsec_" not in raw
        for secret in secrets:
            assert secret not in raw
            assert secret.removeprefix("whsec_") not in raw


async def test_the_stored_secrets_never_reach_the_audit_log(
    as_user: Client, database_url: str
) -> None:
    alice = as_user("alice")
    hook = await create_webhook(alice, HOOK)
    assert (await alice.post(f"/v1/webhooks/{hook['id']}/rotate-secret")).status_code == 200
    encrypted = await stored_secrets(database_url)
    assert len(encrypted) == 2  # the current secret and the previous one
    raws = await stored_rows(database_url)
    assert len(raws) == 2
    for raw in raws:
        assert not any(value in raw for value in encrypted)


async def test_refused_webhook_changes_leave_no_audit_row(
    as_user: Client, database_url: str
) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    hook = await create_webhook(alice, HOOK)
    await create_webhook(alice, HOOK)
    path = f"/v1/webhooks/{hook['id']}"
    some_delivery = "0193a1c2-0000-7000-8000-000000000000"
    before = len(await stored_rows(database_url))
    assert before == 2

    refused = [
        (await alice.post("/v1/webhooks", json={"url": HOOK}), 409, "webhook-limit-reached"),
        (await bob.patch(path, json={"description": "mine"}), 404, "webhook-not-found"),
        (await bob.delete(path), 404, "webhook-not-found"),
        (await bob.post(f"{path}/rotate-secret"), 404, "webhook-not-found"),
        (
            await bob.post(f"{path}/deliveries/{some_delivery}/redeliver"),
            404,
            "webhook-not-found",
        ),
        (
            await alice.post(f"{path}/deliveries/{some_delivery}/redeliver"),
            404,
            "webhook-delivery-not-found",
        ),
        (
            await alice.patch(path, json={"description": "x"}, headers={"If-Match": '"7"'}),
            412,
            "precondition-failed",
        ),
        (await alice.delete(path, headers={"If-Match": '"7"'}), 412, "precondition-failed"),
        (
            await alice.post(f"{path}/rotate-secret", headers={"If-Match": '"7"'}),
            412,
            "precondition-failed",
        ),
        (await alice.patch(path, json={"url": "ftp://x"}), 422, "validation-error"),
    ]
    for response, status, slug in refused:
        assert_problem(response, status, slug)
    assert len(await stored_rows(database_url)) == before
    assert (await alice.get(path)).json()["description"] == ""


async def test_a_webhook_change_rolled_back_leaves_no_audit_row(
    as_user: Client, database_url: str
) -> None:
    alice = as_user("alice")
    hook = await create_webhook(alice, HOOK)
    path = f"/v1/webhooks/{hook['id']}"
    # A deferred constraint trigger fails the commit itself, after the webhook's row and its
    # audit row were written: the whole transaction must go.
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE ON webhook_endpoints
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
            """
        )
        for response in (
            await alice.post("/v1/webhooks", json={"url": HOOK}),
            await alice.patch(path, json={"description": "lost"}),
            await alice.post(f"{path}/rotate-secret"),
        ):
            assert response.status_code >= 500, response.text
        assert len(await stored_rows(database_url)) == 1  # the first create's
        assert await connection.fetchval("SELECT count(*) FROM webhook_endpoints") == 1
    finally:
        await connection.close()
    assert (await alice.get(path)).json()["description"] == ""


async def test_only_admins_read_webhook_audit_rows(as_user: Client) -> None:
    alice, root = as_user("alice"), as_user("root")
    hook = await create_webhook(alice, HOOK)
    experiment = await create_experiment(alice)

    # Alice reads the audit rows of her experiment, not those of her own webhook: they belong
    # to no experiment.
    mine = await audit(alice)
    assert [(r["entity_type"], r["entity_id"]) for r in mine] == [("experiment", experiment["id"])]
    assert await audit(alice, entity_type="webhook") == []
    assert await audit(alice, entity_id=hook["id"]) == []

    (row,) = await audit(root, entity_type="webhook")
    assert (row["entity_id"], row["action"]) == (hook["id"], "create")
    assert json.dumps(row).count("whsec_") == 0


async def _disabled_by_the_worker(
    as_user: Client, database_url: str, webhook: dict[str, Any]
) -> dict[str, Any]:
    """The one ``disable`` row the worker wrote, as an admin reads it; the owner reads none."""
    alice, root = as_user("alice"), as_user("root")
    disabled = await webhook_when(alice, webhook["id"], lambda w: not w["active"])
    rows = await audit(root, entity_type="webhook", entity_id=webhook["id"])
    assert [r["action"] for r in rows] == ["disable", "create"]
    row = rows[0]
    assert (row["actor"], row["source"]) == ("system:webhook-delivery", "worker")
    assert (row["entity_type"], row["entity_id"]) == ("webhook", webhook["id"])
    assert row["changes"] == {
        "active": {"before": True, "after": False},
        "disabled_reason": {"before": None, "after": disabled["disabled_reason"]},
    }
    assert (row["request_id"], row["idempotency_key"], row["client_address"]) == (None,) * 3
    assert await audit(alice, entity_type="webhook") == []
    for raw in await stored_rows(database_url):
        assert "whsec_" not in raw
        assert webhook["secret"].removeprefix("whsec_") not in raw
        assert not any(value in raw for value in await stored_secrets(database_url))
    return row


async def test_the_worker_disabling_a_webhook_on_410_is_one_audit_row(
    as_user: Client, database_url: str, receiver: Receiver
) -> None:
    receiver.script(Reply(410))
    alice = as_user("alice")
    webhook = await create_webhook(alice, receiver.url)
    await create_experiment(alice)
    await delivery_when(alice, webhook["id"], lambda d: d["status"] == "abandoned")

    row = await _disabled_by_the_worker(as_user, database_url, webhook)
    assert row["changes"]["disabled_reason"]["after"] == "the receiver answered 410 Gone"


@pytest.mark.parametrize(
    "webhook_overrides",
    [{"webhook_disable_after_hours": 0.5 / 3600, "webhook_retry_schedule": (0.1,) * 100}],
)
async def test_the_worker_disabling_a_failing_webhook_is_one_audit_row(
    as_user: Client, database_url: str, receiver: Receiver
) -> None:
    receiver.default = Reply(503)
    alice = as_user("alice")
    webhook = await create_webhook(alice, receiver.url)
    await create_experiment(alice)
    await delivery_when(alice, webhook["id"], lambda d: d["status"] == "abandoned")

    row = await _disabled_by_the_worker(as_user, database_url, webhook)
    assert row["changes"]["disabled_reason"]["after"].startswith("every attempt failed for over")
