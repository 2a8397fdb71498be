"""API tokens: created by the CLI and by admins over the API, used as bearer tokens in jwt and
header modes, listed, revoked (refused at once) and expired."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from expsvc.cli import app as cli_app
from tests.auth.conftest import ClientFactory, jwt_settings
from tests.auth.issuer import SigningKey
from tests.conftest import header_identity
from tests.problems import assert_problem

runner = CliRunner()
TOKEN = re.compile(r"^expsvc_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def cli(database_url: str, *args: str) -> Result:
    result = runner.invoke(cli_app, ["token", *args], env={"EXPSVC_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def jwt_mode(rsa_key: SigningKey) -> dict[str, Any]:
    return jwt_settings(jwt_public_key=rsa_key.public_pem(), admin_principals="root")


async def sql(database_url: str, statement: str, *args: Any) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def test_cli_token_is_used_listed_and_revoked_at_once(
    client_with: ClientFactory, database_url: str, jwt_mode: dict[str, Any]
) -> None:
    created = await asyncio.to_thread(
        cli, database_url, "create", "--name", "ci", "--principal", "svc:ci", "--group", "ml"
    )
    match = TOKEN.search(created.output)
    assert match, created.output
    token = match.group(0)
    token_id = re.search(r"^id:\s+(\S+)", created.output, re.MULTILINE).group(1)  # type: ignore[union-attr]
    # Only the hash is stored.
    stored = await sql(
        database_url, "SELECT token_hash FROM api_tokens WHERE id = $1::uuid", token_id
    )
    assert stored == hashlib.sha256(token.encode()).digest()

    async with client_with(**jwt_mode) as http:
        me = await http.get("/v1/me", headers=bearer(token))
        assert me.json() == {
            "principal": "svc:ci",
            "groups": ["ml"],
            "is_admin": False,
            "auth_mode": "jwt",
        }
        listed = (await asyncio.to_thread(cli, database_url, "list")).output
        assert "svc:ci" in listed
        assert token not in listed
        assert token[:11] in listed  # the hint

        await asyncio.to_thread(cli, database_url, "revoke", token_id)
        refused = await http.get("/v1/me", headers=bearer(token))
        problem = assert_problem(refused, 401, "invalid-token")
        assert "revoked" in problem["detail"]
        assert "svc:ci" not in (await asyncio.to_thread(cli, database_url, "list")).output
        assert "svc:ci" in (await asyncio.to_thread(cli, database_url, "list", "--all")).output


async def test_admins_manage_tokens_over_the_api(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any]
) -> None:
    root = bearer(rsa_key.token("root"))
    async with client_with(**jwt_mode) as http:
        response = await http.post(
            "/v1/tokens", json={"name": "nightly", "principal": "svc:nightly"}, headers=root
        )
        assert response.status_code == 201, response.text
        created = response.json()
        token = created["token"]
        assert TOKEN.fullmatch(token)
        assert created["principal"] == "svc:nightly"
        assert created["created_by"] == "root"

        personal = await http.post("/v1/tokens", json={"name": "laptop"}, headers=root)
        assert personal.json()["principal"] == "root"  # default: the caller

        listed = (await http.get("/v1/tokens", headers=root)).json()["items"]
        assert [item["name"] for item in listed] == ["laptop", "nightly"]
        assert all("token" not in item for item in listed)

        experiment = await http.post(
            "/v1/experiments", json={"name": "e"}, headers={**bearer(token), "X-Request-ID": "c-1"}
        )
        assert experiment.json()["created_by"] == "svc:nightly"
        audit = await http.get("/v1/audit", params={"entity_type": "experiment"}, headers=root)
        (row,) = audit.json()["items"]
        assert (row["actor"], row["request_id"]) == ("svc:nightly", "c-1")
        assert re.fullmatch(r"[0-9a-f]{32}", row["server_request_id"])

        revoked = await http.post(f"/v1/tokens/{created['id']}/revoke", headers=root)
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_by"] == "root"
        assert_problem(await http.get("/v1/me", headers=bearer(token)), 401, "invalid-token")
        missing = await http.post(
            f"/v1/tokens/{'0' * 8}-0000-0000-0000-{'0' * 12}/revoke", headers=root
        )
        assert_problem(missing, 404, "api-token-not-found")


async def test_non_admins_cannot_manage_tokens(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any]
) -> None:
    alice = bearer(rsa_key.token("alice"))
    async with client_with(**jwt_mode) as http:
        assert_problem(
            await http.post("/v1/tokens", json={"name": "x"}, headers=alice), 403, "admin-required"
        )
        assert_problem(await http.get("/v1/tokens", headers=alice), 403, "admin-required")
        some_id = "0193a1c2-0000-7000-8000-000000000000"
        revoke = await http.post(f"/v1/tokens/{some_id}/revoke", headers=alice)
        assert_problem(revoke, 403, "admin-required")


@pytest.mark.parametrize("principal", ["system:reaper", "expsvc-worker", "anonymous"])
async def test_tokens_for_the_services_own_names_are_refused(
    client_with: ClientFactory, rsa_key: SigningKey, jwt_mode: dict[str, Any], principal: str
) -> None:
    async with client_with(**jwt_mode) as http:
        response = await http.post(
            "/v1/tokens",
            json={"name": "x", "principal": principal},
            headers=bearer(rsa_key.token("root")),
        )
        assert_problem(response, 422, "validation-error")


async def test_header_mode_accepts_tokens_from_any_peer(
    client_with: ClientFactory, database_url: str
) -> None:
    created = await asyncio.to_thread(
        cli, database_url, "create", "--name", "svc", "--principal", "svc:etl"
    )
    token = TOKEN.search(created.output).group(0)  # type: ignore[union-attr]
    gateway = header_identity("X-Forwarded-User", "10.20.0.0/16")
    async with client_with(peer="192.0.2.55", **gateway) as http:
        assert (await http.get("/v1/me", headers=bearer(token))).json()["principal"] == "svc:etl"
        assert_problem(
            await http.get("/v1/me", headers={"X-Forwarded-User": "root"}), 401, "untrusted-peer"
        )


async def test_expired_unknown_and_malformed_tokens_are_refused(
    client_with: ClientFactory, database_url: str, jwt_mode: dict[str, Any]
) -> None:
    created = await asyncio.to_thread(
        cli, database_url, "create", "--name", "t", "--principal", "p"
    )
    token = TOKEN.search(created.output).group(0)  # type: ignore[union-attr]
    async with client_with(**jwt_mode) as http:
        assert (await http.get("/v1/me", headers=bearer(token))).status_code == 200
        await sql(database_url, "UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        assert (
            "expired"
            in assert_problem(
                await http.get("/v1/me", headers=bearer(token)), 401, "invalid-token"
            )["detail"]
        )
        unknown = "expsvc_" + "A" * 43
        assert (
            "unknown"
            in assert_problem(
                await http.get("/v1/me", headers=bearer(unknown)), 401, "invalid-token"
            )["detail"]
        )
        assert (
            "malformed"
            in assert_problem(
                await http.get("/v1/me", headers=bearer("expsvc_short")), 401, "invalid-token"
            )["detail"]
        )


async def test_last_used_is_touched_at_most_once_a_minute(
    client_with: ClientFactory, database_url: str, jwt_mode: dict[str, Any]
) -> None:
    created = await asyncio.to_thread(
        cli, database_url, "create", "--name", "t", "--principal", "p"
    )
    token = TOKEN.search(created.output).group(0)  # type: ignore[union-attr]
    last_used = "SELECT last_used_at FROM api_tokens"
    assert await sql(database_url, last_used) is None
    async with client_with(**jwt_mode) as http:
        await http.get("/v1/me", headers=bearer(token))
        first = await sql(database_url, last_used)
        assert first is not None
        await http.get("/v1/me", headers=bearer(token))
        assert await sql(database_url, last_used) == first  # within the minute: untouched
        await sql(database_url, "UPDATE api_tokens SET last_used_at = now() - interval '61 s'")
        aged = await sql(database_url, last_used)
        await http.get("/v1/me", headers=bearer(token))
        assert await sql(database_url, last_used) > aged
