"""Webhook signing secrets are stored encrypted (docs/adr/0011), still sign every delivery to a
real receiver, survive a key rotation, and a secret stored in clear before keeps working until
``expsvc secrets rotate`` encrypts it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner, Result

from expsvc.app import create_app
from expsvc.cli import app as cli_app
from expsvc.secret.keys import generate_key
from expsvc.webhook.delivery import UNDECRYPTABLE
from expsvc.webhook.signing import new_secret
from tests.conftest import TEST_SECRET_KEY, make_settings
from tests.helpers import create_experiment
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Receiver
from tests.webhook.support import create_webhook, delivery_when

PREFIX = "enc:v1:"


@asynccontextmanager
async def service(database_url: str, keys: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the relay and the delivery worker, on ``keys``."""
    app = create_app(make_settings(database_url, **WEBHOOK_SETTINGS, secret_keys=keys))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def rotate_keys(database_url: str, keys: str) -> Result:
    env = {"EXPSVC_DATABASE_URL": database_url, "EXPSVC_SECRET_KEYS": keys}
    # The command runs its own event loop: off this test's.
    return await asyncio.to_thread(
        CliRunner().invoke, cli_app, ["secrets", "rotate", "--batch-size", "2"], env=env
    )


async def sql(database_url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database_url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


async def stored(database_url: str, webhook_id: str) -> tuple[str, str | None]:
    (row,) = await sql(
        database_url,
        "SELECT secret, previous_secret FROM webhook_endpoints WHERE id = $1",
        uuid.UUID(webhook_id),
    )
    return row["secret"], row["previous_secret"]


async def signed_request(
    http: httpx.AsyncClient, receiver: Receiver, *secrets: str
) -> dict[str, Any]:
    """One event, received and verified with each of ``secrets`` (one signature apiece)."""
    already = len(receiver.requests())
    await create_experiment(http)
    request = (await receiver.wait_for(already + 1))[already]
    assert len(request.headers["webhook-signature"].split(" ")) == len(secrets)
    events = [Webhook(secret).verify(request.body, request.headers) for secret in secrets]
    assert all(event == events[0] for event in events)
    return events[0]


async def test_a_created_secret_is_stored_encrypted_and_signs(
    database_url: str, receiver: Receiver
) -> None:
    async with service(database_url, TEST_SECRET_KEY) as http:
        webhook = await create_webhook(http, receiver.url)
        secret, previous = await stored(database_url, webhook["id"])
        assert webhook["secret"].startswith("whsec_")
        assert secret.startswith(PREFIX)
        assert webhook["secret"] not in secret
        assert previous is None
        await signed_request(http, receiver, webhook["secret"])

        rotated = await http.post(f"/v1/webhooks/{webhook['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_")
        secret, previous = await stored(database_url, webhook["id"])
        assert secret.startswith(PREFIX)
        assert previous is not None
        assert previous.startswith(PREFIX)
        assert webhook["secret"] not in previous
        assert new not in secret
        # The overlap: both secrets opened and signing, the new one first.
        await signed_request(http, receiver, new, webhook["secret"])


async def test_deliveries_verify_after_a_key_rotation_with_the_old_key_removed(
    database_url: str, receiver: Receiver
) -> None:
    old, new = generate_key(), generate_key()
    async with service(database_url, old) as http:
        hooks = [await create_webhook(http, f"{receiver.url}/{n}") for n in range(3)]
        rotated = await http.post(f"/v1/webhooks/{hooks[0]['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
    before = [await stored(database_url, hook["id"]) for hook in hooks]

    # 3 secrets and 1 previous secret, two endpoints per batch.
    first = await rotate_keys(database_url, f"{new},{old}")
    assert first.exit_code == 0, first.output
    assert (
        "webhook secrets: 0 encrypted (were in clear), 4 re-encrypted, 0 already under the first "
        "key, 0 undecryptable" in first.output
    )
    after = [await stored(database_url, hook["id"]) for hook in hooks]
    assert all(value.startswith(PREFIX) for row in after for value in row if value is not None)
    assert not {v for row in after for v in row} & {v for row in before for v in row} - {None}
    again = await rotate_keys(database_url, f"{new},{old}")
    assert "0 re-encrypted, 4 already under the first key, 0 undecryptable" in again.output
    assert [await stored(database_url, hook["id"]) for hook in hooks] == after  # idempotent

    async with service(database_url, new) as http:
        await create_experiment(http)
        for n, hook in enumerate(hooks):
            (request,) = await receiver.wait_for(1, f"/{n}")
            Webhook(hook["secret"]).verify(request.body, request.headers)
        (request,) = receiver.requests("/0")
        Webhook(rotated.json()["secret"]).verify(request.body, request.headers)
        assert len(request.headers["webhook-signature"].split(" ")) == 2


async def test_a_secret_no_key_opens_is_a_failed_attempt_and_nothing_is_sent(
    database_url: str, receiver: Receiver
) -> None:
    async with service(database_url, generate_key()) as http:
        webhook = await create_webhook(http, receiver.url)
    async with service(database_url, generate_key()) as http:  # the key was lost
        await create_experiment(http)
        delivery = await delivery_when(http, webhook["id"], lambda d: bool(d["attempts"]))
    assert delivery["attempts"][0]["error"] == UNDECRYPTABLE
    assert delivery["attempts"][0]["status_code"] is None
    assert receiver.requests() == []


async def test_a_secret_stored_in_clear_signs_and_rotate_encrypts_it(
    database_url: str, receiver: Receiver
) -> None:
    # As the previous release writes it, during a rollout (its local user, identity off): in
    # clear, here mid-overlap.
    secret, previous = new_secret(), new_secret()
    (row,) = await sql(
        database_url,
        "INSERT INTO webhook_endpoints (id, url, secret, previous_secret, "
        "previous_secret_expires_at, created_by) "
        "VALUES ($1, $2, $3, $4, now() + interval '1 day', 'anonymous') RETURNING id",
        uuid.uuid4(),
        receiver.url,
        secret,
        previous,
    )
    webhook_id = str(row["id"])

    async with service(database_url, TEST_SECRET_KEY) as http:
        await signed_request(http, receiver, secret, previous)

    result = await rotate_keys(database_url, TEST_SECRET_KEY)
    assert result.exit_code == 0, result.output
    assert (
        "webhook secrets: 2 encrypted (were in clear), 0 re-encrypted, 0 already under the first "
        "key, 0 undecryptable" in result.output
    )
    sealed, sealed_previous = await stored(database_url, webhook_id)
    assert sealed.startswith(PREFIX)
    assert sealed_previous is not None
    assert sealed_previous.startswith(PREFIX)
    assert secret not in sealed
    assert previous not in sealed_previous
    again = await rotate_keys(database_url, TEST_SECRET_KEY)
    assert "0 encrypted (were in clear), 0 re-encrypted, 2 already under the first" in again.output

    async with service(database_url, TEST_SECRET_KEY) as http:
        event = await signed_request(http, receiver, secret, previous)
    assert event["type"] == "experiment.created"


async def test_a_secret_no_key_opens_makes_rotate_exit_1_and_stays(
    database_url: str, receiver: Receiver
) -> None:
    async with service(database_url, generate_key()) as http:
        webhook = await create_webhook(http, receiver.url)
    before = await stored(database_url, webhook["id"])

    result = await rotate_keys(database_url, generate_key())

    assert result.exit_code == 1
    assert "webhook secrets: 0 encrypted (were in clear), 0 re-encrypted" in result.output
    assert "1 undecryptable" in result.output
    assert "Traceback" not in result.output
    assert await stored(database_url, webhook["id"]) == before


def test_worker_names_the_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPSVC_DATABASE_URL", "postgresql://expsvc@db.invalid/expsvc")
    monkeypatch.delenv("EXPSVC_SECRET_KEYS", raising=False)
    result = CliRunner().invoke(cli_app, ["worker"])
    assert result.exit_code == 2
    assert "EXPSVC_SECRET_KEYS is not set" in result.output
    assert "Traceback" not in result.output
