"""Creating and revoking API tokens (over the API and with the CLI) are audit rows (entity type
``api_token``) in the change's transaction, never holding the token, and read only by admins."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from expsvc.cli import app as cli_app
from tests.api_token.test_tokens import TOKEN, bearer, cli
from tests.auth.conftest import ClientFactory, jwt_settings
from tests.auth.issuer import SigningKey
from tests.problems import assert_problem

runner = CliRunner()
UNKNOWN = "0193a1c2-0000-7000-8000-000000000000"


@pytest.fixture
def jwt_mode(rsa_key: SigningKey) -> dict[str, Any]:
    return jwt_settings(jwt_public_key=rsa_key.public_pem(), admin_principals="root")


async def stored_rows(database_url: str) -> list[str]:
    """Every audit row about a token, whole, as JSON text, oldest first."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT to_jsonb(a)::text AS raw FROM audit_log AS a "
            "WHERE entity_type = 'api_token' ORDER BY id"
        )
        return [row["raw"] for row in rows]
    finally:
        await connection.close()


def assert_nowhere(token: str, raws: list[str]) -> None:
    """Neither the token, nor its random part, nor its hash (hex: how jsonb shows bytea), nor
    its hint (its first characters) is in any of the rows."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    for raw in raws:
        for leak in (token, token.removeprefix("expsvc_"), token[:11], digest):
            assert leak not in raw, leak


async def test_tokens_created_and_revoked_over_the_api_are_audit_rows(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], database_url: str
) -> None:
    root = bearer(rsa_key.token("root"))
    async with client_with(**jwt_mode) as http:
        created = await http.post(
            "/v1/tokens",
            json={"name": "nightly", "principal": "svc:nightly", "groups": ["ml"]},
            headers={**root, "X-Request-ID": "req-7", "Idempotency-Key": "tok-1"},
        )
        assert created.status_code == 201, created.text
        token = created.json()
        path = f"/v1/tokens/{token['id']}/revoke"
        revoked = await http.post(path, headers=root)
        assert revoked.status_code == 200, revoked.text
        again = await http.post(path, headers=root)  # changes nothing: no second row
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]

        rows = (
            await http.get("/v1/audit", params={"entity_type": "api_token"}, headers=root)
        ).json()["items"]
    assert [r["action"] for r in rows] == ["revoke", "create"]
    revocation, creation = rows
    for row in rows:
        assert (row["actor"], row["source"]) == ("root", "user")
        assert (row["entity_type"], row["entity_id"]) == ("api_token", token["id"])
        assert re.fullmatch(r"[0-9a-f]{32}", row["server_request_id"])
    assert (creation["request_id"], creation["idempotency_key"]) == ("req-7", "tok-1")
    assert creation["changes"] == {
        "name": {"before": None, "after": "nightly"},
        "principal": {"before": None, "after": "svc:nightly"},
        "groups": {"before": None, "after": ["ml"]},
        "created_by": {"before": None, "after": "root"},
        "created_at": {"before": None, "after": creation["changes"]["created_at"]["after"]},
        "expires_at": {"before": None, "after": creation["changes"]["expires_at"]["after"]},
    }
    assert creation["changes"]["expires_at"]["after"].startswith(token["expires_at"][:16])
    assert revocation["changes"] == {
        "revoked_at": {"before": None, "after": revocation["changes"]["revoked_at"]["after"]},
        "revoked_by": {"before": None, "after": "root"},
    }
    assert revocation["idempotency_key"] is None
    raws = await stored_rows(database_url)
    assert len(raws) == 2
    assert_nowhere(token["token"], raws)
    assert "hint" not in raws[0]


async def test_refused_token_changes_leave_no_audit_row(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], database_url: str
) -> None:
    root, alice = bearer(rsa_key.token("root")), bearer(rsa_key.token("alice"))
    async with client_with(**jwt_mode) as http:
        assert_problem(
            await http.post(f"/v1/tokens/{UNKNOWN}/revoke", headers=root),
            404,
            "api-token-not-found",
        )
        assert_problem(
            await http.post("/v1/tokens", json={"name": "x"}, headers=alice), 403, "admin-required"
        )
        assert_problem(
            await http.post(f"/v1/tokens/{UNKNOWN}/revoke", headers=alice), 403, "admin-required"
        )
        assert_problem(
            await http.post(
                "/v1/tokens", json={"name": "x", "principal": "system:x"}, headers=root
            ),
            422,
            "validation-error",
        )
    assert await stored_rows(database_url) == []


async def test_a_token_change_rolled_back_leaves_no_audit_row(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], database_url: str
) -> None:
    root = bearer(rsa_key.token("root"))
    async with client_with(**jwt_mode) as http:
        token = (await http.post("/v1/tokens", json={"name": "kept"}, headers=root)).json()
        # A deferred constraint trigger fails the commit itself, after the token's row and its
        # audit row were written: the whole transaction must go.
        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute(
                """
                CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
                CREATE CONSTRAINT TRIGGER refuse_commit AFTER INSERT OR UPDATE ON api_tokens
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
                """
            )
            for response in (
                await http.post("/v1/tokens", json={"name": "lost"}, headers=root),
                await http.post(f"/v1/tokens/{token['id']}/revoke", headers=root),
            ):
                assert response.status_code >= 500, response.text
            assert await connection.fetchval("SELECT count(*) FROM api_tokens") == 1
            revoked = await connection.fetchval("SELECT revoked_at FROM api_tokens")
            assert revoked is None
        finally:
            await connection.close()
    assert len(await stored_rows(database_url)) == 1  # the first create's


async def test_cli_changes_are_audit_rows_of_the_cli(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], database_url: str
) -> None:
    created = await asyncio.to_thread(
        cli, database_url, "create", "--name", "ci", "--principal", "svc:ci", "--group", "ml"
    )
    token = TOKEN.search(created.output).group(0)  # type: ignore[union-attr]
    token_id = re.search(r"^id:\s+(\S+)", created.output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    await asyncio.to_thread(cli, database_url, "revoke", token_id)
    await asyncio.to_thread(cli, database_url, "revoke", token_id)  # again: no change, no row
    unknown = await asyncio.to_thread(
        runner.invoke,
        cli_app,
        ["token", "revoke", UNKNOWN],
        env={"EXPSVC_DATABASE_URL": database_url},
    )
    assert unknown.exit_code == 2, unknown.output

    async with client_with(**jwt_mode) as http:
        rows = (
            await http.get(
                "/v1/audit",
                params={"entity_id": token_id},
                headers=bearer(rsa_key.token("root")),
            )
        ).json()["items"]
    assert [r["action"] for r in rows] == ["revoke", "create"]
    revocation, creation = rows
    for row in rows:
        assert (row["actor"], row["source"], row["entity_type"]) == (
            "system:cli",
            "user",
            "api_token",
        )
        assert row["request_id"] is None
        assert row["server_request_id"] is None
    assert creation["changes"]["created_by"] == {"before": None, "after": "system:cli"}
    assert creation["changes"]["groups"] == {"before": None, "after": ["ml"]}
    assert revocation["changes"]["revoked_by"] == {"before": None, "after": "system:cli"}
    raws = await stored_rows(database_url)
    assert len(raws) == 2
    assert_nowhere(token, raws)


async def test_only_admins_read_token_audit_rows(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any]
) -> None:
    root, alice = bearer(rsa_key.token("root")), bearer(rsa_key.token("alice"))
    async with client_with(**jwt_mode) as http:
        token = (
            await http.post("/v1/tokens", json={"name": "a", "principal": "alice"}, headers=root)
        ).json()
        experiment = (await http.post("/v1/experiments", json={"name": "e"}, headers=alice)).json()

        def read(headers: dict[str, str], **params: str) -> Any:
            return http.get("/v1/audit", params=params, headers=headers)

        # Alice reads her experiment's rows, not the row of the token that acts as her.
        mine = (await read(alice)).json()["items"]
        assert [(r["entity_type"], r["entity_id"]) for r in mine] == [
            ("experiment", experiment["id"])
        ]
        assert (await read(alice, entity_type="api_token")).json()["items"] == []
        assert (await read(alice, entity_id=token["id"])).json()["items"] == []
        (row,) = (await read(root, entity_type="api_token")).json()["items"]
        assert (row["entity_id"], row["action"]) == (token["id"], "create")


async def test_a_keyed_token_create_stores_its_reply_sealed_and_replays_the_token(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], database_url: str
) -> None:
    """The reply kept for an Idempotency-Key holds the token only encrypted; the replay still
    gives the caller the token it was shown the first time."""
    root = {**bearer(rsa_key.token("root")), "Idempotency-Key": "tok-sealed"}
    body = {"name": "sealed", "principal": "svc:sealed"}
    async with client_with(**jwt_mode) as http:
        created = await http.post("/v1/tokens", json=body, headers=root)
        assert created.status_code == 201, created.text
        replayed = await http.post("/v1/tokens", json=body, headers=root)
    assert replayed.status_code == 201, replayed.text
    token = created.json()["token"]
    assert replayed.json()["token"] == token
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetch("SELECT response_body FROM idempotency_keys")
    finally:
        await connection.close()
    assert len(stored) == 1
    body = bytes(stored[0]["response_body"])
    for leak in (token, token.removeprefix("expsvc_")):
        assert leak.encode() not in body
