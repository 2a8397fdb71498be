"""A stored Idempotency-Key answer that carries a secret is encrypted; its replay is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from expsvc.app import create_app
from expsvc.secret.box import SEALED_PREFIX
from expsvc.secret.keys import generate_key
from tests.conftest import TEST_SECRET_KEY, make_settings
from tests.problems import assert_problem

PUBLIC_URL = "http://93.184.215.14/hooks/expsvc"  # never contacted: no relay here
REPLAYED = "idempotent-replayed"


async def stored_bodies(database_url: str) -> dict[str, bytes]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT key, response_body FROM idempotency_keys")
    finally:
        await connection.close()
    return {row["key"]: bytes(row["response_body"]) for row in rows}


@asynccontextmanager
async def client_with_keys(database_url: str, keys: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, secret_keys=keys))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def keyed_create(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post(
        "/v1/webhooks", json={"url": PUBLIC_URL}, headers={"Idempotency-Key": key}
    )


async def test_keyed_webhook_create_is_stored_encrypted_and_replayed_in_clear(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first = await keyed_create(client, "hook-1")
    assert first.status_code == 201, first.text
    secret: str = first.json()["secret"]

    stored = (await stored_bodies(database_url))["hook-1"]
    assert stored.startswith(SEALED_PREFIX)
    assert secret.encode() not in stored
    assert secret.removeprefix("whsec_").encode() not in stored
    assert first.json()["id"].encode() not in stored  # the whole body is sealed

    again = await keyed_create(client, "hook-1")
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]


async def test_keyed_secret_rotation_is_stored_encrypted(
    client: httpx.AsyncClient, database_url: str
) -> None:
    hook: dict[str, Any] = (await keyed_create(client, "create")).json()
    path = f"/v1/webhooks/{hook['id']}/rotate-secret"
    rotated = await client.post(path, headers={"Idempotency-Key": "rotate"})
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret != hook["secret"]

    stored = (await stored_bodies(database_url))["rotate"]
    assert stored.startswith(SEALED_PREFIX)
    assert secret.encode() not in stored

    again = await client.post(path, headers={"Idempotency-Key": "rotate"})
    assert again.headers[REPLAYED] == "true"
    assert again.json()["secret"] == secret


async def test_answers_without_a_secret_are_stored_as_they_are(
    client: httpx.AsyncClient, database_url: str
) -> None:
    created = await client.post(
        "/v1/experiments", json={"name": "plain"}, headers={"Idempotency-Key": "exp"}
    )
    assert created.status_code == 201
    assert (await stored_bodies(database_url))["exp"] == created.content


async def test_replay_opens_with_an_older_key_still_configured(database_url: str) -> None:
    async with client_with_keys(database_url, TEST_SECRET_KEY) as http:
        first = await keyed_create(http, "hook")
    async with client_with_keys(database_url, f"{generate_key()},{TEST_SECRET_KEY}") as http:
        again = await keyed_create(http, "hook")
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content


async def test_replay_without_the_key_is_a_clear_500_that_shows_nothing(
    database_url: str, capsys: Any
) -> None:
    async with client_with_keys(database_url, TEST_SECRET_KEY) as http:
        first = await keyed_create(http, "hook")
    async with client_with_keys(database_url, generate_key()) as http:
        again = await keyed_create(http, "hook")

    problem = assert_problem(again, 500, "secret-undecryptable")
    assert "EXPSVC_SECRET_KEYS" in problem["detail"]
    assert first.json()["secret"] not in again.text
    logged = capsys.readouterr().out
    assert "cannot be decrypted" in logged
    assert "Traceback" not in logged
    assert first.json()["secret"] not in logged
