"""header mode (the gateway's identity header, believed from trusted proxies only) and none mode
(identity off: loopback callers are the local admin)."""

from __future__ import annotations

import httpx
import pytest

from expsvc.auth.principal import REAPER
from expsvc.settings import Settings
from expsvc.telemetry.reconciliation import WORKER
from tests.auth.conftest import ClientFactory
from tests.conftest import header_identity
from tests.problems import assert_problem

HEADER = "X-Forwarded-User"
GROUPS = "X-Forwarded-Groups"
PROXY = "10.20.0.7"  # an address inside the trusted CIDR; only a value in the ASGI scope
GATEWAY = {**header_identity(HEADER, "10.20.0.0/16"), "groups_header": GROUPS}


async def test_identity_from_a_trusted_proxy(client_with: ClientFactory) -> None:
    async with client_with(peer=PROXY, **GATEWAY, admin_groups="sre") as http:
        created = await http.post("/v1/experiments", json={"name": "x"}, headers={HEADER: "alice"})
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == "alice"
        me = await http.get("/v1/me", headers={HEADER: "bob", GROUPS: "ml, sre"})
        assert me.json() == {
            "principal": "bob",
            "groups": ["ml", "sre"],
            "is_admin": True,
            "auth_mode": "header",
        }


@pytest.mark.parametrize("peer", ["192.0.2.10", "127.0.0.1", "10.21.0.1", "::1"])
async def test_identity_header_from_an_untrusted_peer_is_401(
    client_with: ClientFactory, peer: str
) -> None:
    async with client_with(peer=peer, **GATEWAY) as http:
        response = await http.post("/v1/experiments", json={"name": "x"}, headers={HEADER: "root"})
        assert_problem(response, 401, "untrusted-peer")
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert_problem(await http.get("/v1/me", headers={HEADER: "root"}), 401, "untrusted-peer")


async def test_missing_identity_is_401(client_with: ClientFactory) -> None:
    async with client_with(peer=PROXY, **GATEWAY) as http:
        response = await http.post("/v1/experiments", json={"name": "x"})
        problem = assert_problem(response, 401, "missing-credentials")
        assert HEADER in problem["detail"]
        assert_problem(await http.get("/v1/experiments"), 401, "missing-credentials")
        listed = await http.get("/v1/experiments", headers={HEADER: "alice"})
        assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "malformed",
    ["", "has space", "-leading-dash", "x" * 257, "alice,bob", "ünïcode", "a/b"],
)
async def test_malformed_identity_is_401(client_with: ClientFactory, malformed: str) -> None:
    async with client_with(peer=PROXY, **GATEWAY) as http:
        response = await http.post(
            "/v1/experiments", json={"name": "x"}, headers={HEADER.encode(): malformed.encode()}
        )
        assert_problem(response, 401, "missing-credentials")
        listed = await http.get("/v1/experiments", headers={HEADER: "alice"})
        assert listed.json()["items"] == []


async def test_malformed_groups_are_401(client_with: ClientFactory) -> None:
    async with client_with(peer=PROXY, **GATEWAY) as http:
        response = await http.get("/v1/me", headers={HEADER: "alice", GROUPS: "ok, bad group"})
        assert_problem(response, 401, "missing-credentials")


@pytest.mark.parametrize(
    "name",
    [REAPER.id, "system:anything", WORKER.id, "telemetry-ingest", "artifact-service", "anonymous"],
)
async def test_the_services_own_names_are_refused(client_with: ClientFactory, name: str) -> None:
    async with client_with(peer=PROXY, **GATEWAY) as http:
        response = await http.post("/v1/experiments", json={"name": "x"}, headers={HEADER: name})
        assert_problem(response, 403, "reserved-principal")
        listed = await http.get("/v1/experiments", headers={HEADER: "alice"})
        assert listed.json()["items"] == []


@pytest.mark.parametrize("user", ["alice", "bob@example.com", "svc:ci-runner", "u_1.2+x"])
async def test_valid_identity_becomes_created_by(client_with: ClientFactory, user: str) -> None:
    async with client_with(peer=PROXY, **GATEWAY) as http:
        response = await http.post("/v1/experiments", json={"name": "x"}, headers={HEADER: user})
        assert response.status_code == 201, response.text
        assert response.json()["created_by"] == user


async def test_health_needs_no_identity(client_with: ClientFactory) -> None:
    async with client_with(peer="192.0.2.10", **GATEWAY) as http:
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/health/ready")).status_code == 200


async def test_none_mode_serves_loopback_as_the_local_admin(client_with: ClientFactory) -> None:
    for peer in ("127.0.0.1", "127.8.9.10", "::1"):
        async with client_with(peer=peer) as http:
            response = await http.post(
                "/v1/experiments", json={"name": "x"}, headers={HEADER: "mallory"}
            )
            assert response.json()["created_by"] == "anonymous"
            me = await http.get("/v1/me")
            assert me.json() == {
                "principal": "anonymous",
                "groups": [],
                "is_admin": True,
                "auth_mode": "none",
            }


@pytest.mark.parametrize("peer", ["192.0.2.10", "10.0.0.1", "testclient"])
async def test_none_mode_refuses_other_peers(client_with: ClientFactory, peer: str) -> None:
    async with client_with(peer=peer) as http:
        response = await http.post("/v1/experiments", json={"name": "x"})
        problem = assert_problem(response, 401, "untrusted-peer")
        assert "EXPSVC_AUTH_MODE=none" in problem["detail"]


def test_an_identity_header_without_a_mode_refuses_to_start() -> None:
    """Before EXPSVC_AUTH_MODE, the header alone switched identity on, believed from anyone."""
    with pytest.raises(ValueError, match="EXPSVC_AUTH_MODE=header and EXPSVC_TRUSTED_PROXIES"):
        Settings(database_url="postgresql://x@127.0.0.1/x", identity_header=HEADER)
    with pytest.raises(ValueError, match="EXPSVC_TRUSTED_PROXIES"):
        Settings(database_url="postgresql://x@127.0.0.1/x", auth_mode="header", identity_header="X")
    with pytest.raises(ValueError, match="EXPSVC_JWT_ISSUER"):
        Settings(database_url="postgresql://x@127.0.0.1/x", auth_mode="jwt")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Settings(
            database_url="postgresql://x@127.0.0.1/x",
            auth_mode="jwt",
            jwt_issuer="i",
            jwt_audience="a",
            jwt_hs256_secret="short",
        )


async def test_default_client_is_loopback(client: httpx.AsyncClient) -> None:
    """The suite's default client (ASGI transport, peer 127.0.0.1) runs in none mode."""
    assert (await client.get("/v1/me")).json()["principal"] == "anonymous"
