"""``expsvc secrets rotate`` through the CLI, on the test's PostgreSQL: old key → new key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from typer.testing import CliRunner, Result

from expsvc.app import create_app
from expsvc.cli import app as cli_app
from expsvc.secret.box import SEALED_PREFIX
from expsvc.secret.keys import generate_key
from tests.conftest import header_identity, make_settings

runner = CliRunner()
PUBLIC_URL = "http://93.184.215.14/hooks/expsvc"


def invoke_rotate(database_url: str, keys: str, *args: str) -> Result:
    env = {"EXPSVC_DATABASE_URL": database_url, "EXPSVC_SECRET_KEYS": keys}
    return runner.invoke(cli_app, ["secrets", "rotate", *args], env=env)


async def rotate(database_url: str, keys: str, *args: str) -> Result:
    # The command runs its own event loop: off this test's.
    return await asyncio.to_thread(invoke_rotate, database_url, keys, *args)


@asynccontextmanager
async def service(database_url: str, keys: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, secret_keys=keys))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@asynccontextmanager
async def as_user(database_url: str, keys: str, principal: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service in header mode, as ``principal`` (``root`` is an admin)."""
    settings = make_settings(
        database_url, secret_keys=keys, admin_principals="root", **header_identity("X-User")
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers={"X-User": principal}
        ) as http:
            yield http


async def webhook_audit(http: httpx.AsyncClient, action: str) -> list[dict[str, Any]]:
    answer = await http.get("/v1/audit", params={"entity_type": "webhook", "page_size": 1000})
    assert answer.status_code == 200, answer.text
    return [row for row in answer.json()["items"] if row["action"] == action]


async def create_hooks(http: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    answers = []
    for n in range(count):
        answer = await http.post(
            "/v1/webhooks", json={"url": PUBLIC_URL}, headers={"Idempotency-Key": f"hook-{n}"}
        )
        assert answer.status_code == 201, answer.text
        answers.append(answer)
    return answers


async def stored(database_url: str) -> list[bytes]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT response_body FROM idempotency_keys ORDER BY key")
    finally:
        await connection.close()
    return [bytes(row["response_body"]) for row in rows]


async def test_rotate_moves_stored_secrets_to_the_new_key(database_url: str) -> None:
    old, new = generate_key(), generate_key()
    async with service(database_url, old) as http:
        created = await create_hooks(http, 5)
        await http.post("/v1/experiments", json={"name": "e"}, headers={"Idempotency-Key": "e"})
    before = await stored(database_url)

    # Batches of two: three transactions for five sealed rows; the plain one is not touched.
    first = await rotate(database_url, f"{new},{old}", "--batch-size", "2")
    assert first.exit_code == 0, first.output
    assert "5 re-encrypted, 0 already under the first key, 0 undecryptable" in first.output
    after = await stored(database_url)
    assert after[0] == before[0]  # "e": no secret, stored as it was
    assert all(body.startswith(SEALED_PREFIX) for body in after[1:])
    assert not set(after[1:]) & set(before[1:])

    again = await rotate(database_url, f"{new},{old}")
    assert "0 re-encrypted, 5 already under the first key" in again.output
    assert await stored(database_url) == after  # idempotent: nothing rewritten

    # The old key dropped: every replay still answers what the first request answered.
    async with service(database_url, new) as http:
        replays = await create_hooks(http, 5)
    assert [r.content for r in replays] == [c.content for c in created]
    assert all(r.headers["idempotent-replayed"] == "true" for r in replays)


async def test_rotate_without_the_old_key_says_so_and_changes_nothing(database_url: str) -> None:
    old = generate_key()
    async with service(database_url, old) as http:
        await create_hooks(http, 2)
    before = await stored(database_url)

    result = await rotate(database_url, generate_key())

    assert result.exit_code == 1
    assert "0 re-encrypted, 0 already under the first key, 2 undecryptable" in result.output
    assert "could not be decrypted" in result.output
    assert "Traceback" not in result.output
    assert await stored(database_url) == before


def test_rotate_with_a_bad_key_setting_is_a_clear_error(database_url: str) -> None:
    result = invoke_rotate(database_url, "nonsense")
    assert result.exit_code == 2
    assert "EXPSVC_SECRET_KEYS: key 1 of 1 is not a Fernet key" in result.output
    assert "nonsense" not in result.output


async def test_rotate_writes_one_audit_row_per_webhook_reencrypted(database_url: str) -> None:
    old, new = generate_key(), generate_key()
    async with as_user(database_url, old, "alice") as alice:
        created = [answer.json() for answer in await create_hooks(alice, 3)]
        rotated = await alice.post(f"/v1/webhooks/{created[0]['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text

    first = await rotate(database_url, f"{new},{old}", "--batch-size", "2")
    assert first.exit_code == 0, first.output
    again = await rotate(database_url, f"{new},{old}")  # nothing to re-encrypt: no row
    assert again.exit_code == 0, again.output

    async with as_user(database_url, new, "root") as root:
        rows = await webhook_audit(root, "reencrypt_secret")
    async with as_user(database_url, new, "alice") as alice:
        assert await webhook_audit(alice, "reencrypt_secret") == []
    # One per webhook (the one with a previous secret too), across the run's batches.
    assert sorted(row["entity_id"] for row in rows) == sorted(hook["id"] for hook in created)
    assert len({row["batch_id"] for row in rows}) == 1
    assert rows[0]["batch_id"] is not None
    for row in rows:
        assert (row["actor"], row["source"], row["changes"]) == ("system:cli", "user", {})
        assert (row["request_id"], row["client_address"]) == (None, None)
    connection = await asyncpg.connect(database_url)
    try:
        raws = await connection.fetch(
            "SELECT to_jsonb(a)::text AS raw FROM audit_log AS a WHERE entity_type = 'webhook'"
        )
        stored_secrets = await connection.fetch(
            "SELECT secret, previous_secret FROM webhook_endpoints"
        )
    finally:
        await connection.close()
    secrets = [hook["secret"] for hook in created] + [rotated.json()["secret"]]
    secrets += [value for row in stored_secrets for value in row.values() if value is not None]
    for raw in (row["raw"] for row in raws):
        assert "whsec_" not in raw
        assert not any(secret in raw for secret in secrets)


async def test_rotate_leaves_no_audit_row_for_a_secret_it_cannot_open(database_url: str) -> None:
    async with service(database_url, generate_key()) as http:
        await create_hooks(http, 2)
    result = await rotate(database_url, generate_key())
    assert result.exit_code == 1
    async with service(database_url, generate_key()) as http:
        assert await webhook_audit(http, "reencrypt_secret") == []
