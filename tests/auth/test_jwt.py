"""jwt mode: bearer tokens from the API Gateway, verified against a real JWKS server or key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.auth.conftest import ClientFactory, jwt_settings
from tests.auth.issuer import JwksServer, SigningKey, claims_for, sign, unsigned
from tests.problems import assert_problem

HS_SECRET = "s" * 40


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_token(response: httpx.Response, slug: str = "invalid-token") -> str:
    problem = assert_problem(response, 401, slug)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="expsvc"')
    if slug == "invalid-token":
        assert 'error="invalid_token"' in challenge
    return str(problem["detail"])


async def me(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await http.get("/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_valid_token_acts_as_its_subject(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    token = rsa_key.token("alice@example.com", groups=["ml", "vision"])
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        created = await http.post("/v1/experiments", json={"name": "e"}, headers=bearer(token))
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == "alice@example.com"
        assert await me(http, token) == {
            "principal": "alice@example.com",
            "groups": ["ml", "vision"],
            "is_admin": False,
            "auth_mode": "jwt",
        }


async def test_admins_by_principal_or_group(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    settings = jwt_settings(
        jwt_jwks_url=jwks.url, admin_principals="root", admin_groups="platform,sre"
    )
    async with client_with(**settings) as http:
        assert (await me(http, rsa_key.token("root")))["is_admin"] is True
        assert (await me(http, rsa_key.token("bob", groups=["sre"])))["is_admin"] is True
        assert (await me(http, rsa_key.token("bob", groups=["ml"])))["is_admin"] is False


async def test_configurable_claims(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    settings = jwt_settings(
        jwt_jwks_url=jwks.url, jwt_principal_claim="email", jwt_groups_claim="roles"
    )
    token = rsa_key.token("ignored-sub", email="carol@example.com", roles=["a"])
    async with client_with(**settings) as http:
        body = await me(http, token)
        assert (body["principal"], body["groups"]) == ("carol@example.com", ["a"])
        assert_invalid_token(await http.get("/v1/me", headers=bearer(rsa_key.token("x"))))


async def test_key_rotation_fetches_the_new_key_once(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    settings = jwt_settings(jwt_jwks_url=jwks.url, jwks_min_refresh_seconds=0)
    async with client_with(**settings) as http:
        assert (await me(http, rsa_key.token("alice")))["principal"] == "alice"
        assert jwks.fetches == 1
        rotated = SigningKey.rsa()
        jwks.keys = [rotated]  # the issuer rotates: the old key is gone, a new kid signs
        for _ in range(3):
            assert (await me(http, rotated.token(f"u{_}")))["principal"] == f"u{_}"
        assert jwks.fetches == 2  # one fetch for the unknown kid, then it is known
        # The old key's tokens already verified stay trusted until they expire (the cache);
        # a token it signs now is refused: its kid is no longer published.
        stale = rsa_key.token("mallory")
        assert "no RS256 signing key" in assert_invalid_token(
            await http.get("/v1/me", headers=bearer(stale))
        )


async def test_unknown_kids_cannot_hammer_the_jwks_endpoint(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    settings = jwt_settings(jwt_jwks_url=jwks.url, jwks_min_refresh_seconds=30)
    async with client_with(**settings) as http:
        await me(http, rsa_key.token("alice"))
        assert jwks.fetches == 1
        for _ in range(20):
            forged = rsa_key.token("alice", kid=uuid.uuid4().hex)
            assert_invalid_token(await http.get("/v1/me", headers=bearer(forged)))
        assert jwks.fetches == 1
        # Once the interval has passed, an unknown kid may fetch again (once).
        keys = http._transport.app.state.authenticator.jwt.jwks  # type: ignore[attr-defined]
        now = time.monotonic()
        keys.clock = lambda: now + 31
        assert_invalid_token(await http.get("/v1/me", headers=bearer(forged)))
        assert_invalid_token(await http.get("/v1/me", headers=bearer(forged)))
        assert jwks.fetches == 2


async def test_jwks_down_at_start_is_503_and_later_keeps_the_known_keys(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    jwks.failing = True
    settings = jwt_settings(jwt_jwks_url=jwks.url, jwks_min_refresh_seconds=0)
    async with client_with(**settings) as http:
        response = await http.get("/v1/me", headers=bearer(rsa_key.token("alice")))
        assert_problem(response, 503, "identity-provider-unavailable")
        assert "retry-after" in response.headers
        jwks.failing = False
        assert (await me(http, rsa_key.token("alice")))["principal"] == "alice"
        jwks.failing = True
        keys = http._transport.app.state.authenticator.jwt.jwks  # type: ignore[attr-defined]
        now = time.monotonic()
        keys.clock = lambda: now + 3600  # the cached keys are old: a refresh is due, and fails
        assert (await me(http, rsa_key.token("bob")))["principal"] == "bob"


async def test_es256_by_public_key_and_eddsa_by_jwks(client_with: ClientFactory) -> None:
    ec_key, ed_key = SigningKey.ec(), SigningKey.ed25519()
    async with client_with(**jwt_settings(jwt_public_key=ec_key.public_pem())) as http:
        assert (await me(http, ec_key.token("ec-user", kid=False)))["principal"] == "ec-user"
        assert_invalid_token(await http.get("/v1/me", headers=bearer(ed_key.token("x"))))
    with JwksServer(ed_key).running() as server:
        async with client_with(**jwt_settings(jwt_jwks_url=server.url)) as http:
            assert (await me(http, ed_key.token("ed-user")))["principal"] == "ed-user"


async def test_hs256_only_when_configured(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    token = sign(claims_for("svc"), HS_SECRET, "HS256")
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        assert "'HS256' are not accepted" in assert_invalid_token(
            await http.get("/v1/me", headers=bearer(token))
        )
    async with client_with(**jwt_settings(jwt_hs256_secret=HS_SECRET)) as http:
        assert (await me(http, token))["principal"] == "svc"
        wrong = sign(claims_for("svc"), "t" * 40, "HS256")
        assert_invalid_token(await http.get("/v1/me", headers=bearer(wrong)))


def _hs256_with_raw_key(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token signed with any bytes as the secret (PyJWT refuses PEM keys, an attacker
    does not)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


@pytest.mark.parametrize("hs256_allowed", [False, True])
async def test_key_confusion_and_alg_none_are_refused(
    client_with: ClientFactory, rsa_key: SigningKey, hs256_allowed: bool
) -> None:
    settings = jwt_settings(jwt_public_key=rsa_key.public_pem())
    if hs256_allowed:
        settings["jwt_hs256_secret"] = HS_SECRET
    confused = _hs256_with_raw_key(claims_for("root"), rsa_key.public_pem().encode())
    async with client_with(**settings) as http:
        assert (await me(http, rsa_key.token("alice")))["principal"] == "alice"
        assert_invalid_token(await http.get("/v1/me", headers=bearer(confused)))
        detail = assert_invalid_token(
            await http.get("/v1/me", headers=bearer(unsigned(claims_for("root"))))
        )
        assert "'none' are not accepted" in detail


@dataclass(frozen=True)
class FromNow:
    """A NumericDate this many seconds from when the test runs. Not from collection: a full run
    reaches a test minutes after collecting it, and an ``nbf`` two minutes ahead at collection
    had passed by then (the token was accepted)."""

    seconds: int


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"iss": "https://evil.test"}, "another issuer"),
        ({"aud": "other-service"}, "another audience"),
        ({"exp": FromNow(-120)}, "expired"),
        ({"nbf": FromNow(120)}, "not valid yet"),
        ({"exp": None}, "'exp'"),
        ({"aud": None}, "'aud'"),
        ({"sub": None}, "'sub'"),
        ({"sub": "has space"}, "not a principal id"),
        ({"groups": "admins"}, "not a list of groups"),
    ],
)
async def test_bad_claims_are_refused(
    client_with: ClientFactory,
    jwks: JwksServer,
    rsa_key: SigningKey,
    claims: dict[str, Any],
    expected: str,
) -> None:
    now = int(time.time())
    claims = {
        name: now + value.seconds if isinstance(value, FromNow) else value
        for name, value in claims.items()
    }
    token = sign(claims_for("alice", **claims), rsa_key.private, "RS256", rsa_key.kid)
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        response = await http.post("/v1/experiments", json={"name": "e"}, headers=bearer(token))
        assert expected in assert_invalid_token(response)


async def test_leeway_accepts_small_clock_skew(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey
) -> None:
    just_expired = rsa_key.token("alice", exp=int(time.time()) - 5)
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url, jwt_leeway_seconds=30)) as http:
        assert (await me(http, just_expired))["principal"] == "alice"
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url, jwt_leeway_seconds=0)) as http:
        assert "expired" in assert_invalid_token(
            await http.get("/v1/me", headers=bearer(just_expired))
        )


@pytest.mark.parametrize("subject", ["system:reaper", "system:anything", "expsvc-worker"])
async def test_the_services_own_names_are_refused(
    client_with: ClientFactory, jwks: JwksServer, rsa_key: SigningKey, subject: str
) -> None:
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        response = await http.post(
            "/v1/experiments", json={"name": "e"}, headers=bearer(rsa_key.token(subject))
        )
        assert_problem(response, 403, "reserved-principal")


async def test_missing_and_malformed_credentials(
    client_with: ClientFactory, jwks: JwksServer
) -> None:
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        missing = await http.get("/v1/experiments")
        assert_invalid_token(missing, "missing-credentials")
        assert missing.headers["www-authenticate"] == 'Bearer realm="expsvc"'
        for header in ("Basic YWxpY2U6cHc=", "Bearer", "Bearer a b", "token"):
            response = await http.get("/v1/experiments", headers={"Authorization": header})
            assert_problem(response, 401, "invalid-authorization-header")
            assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert "well-formed" in assert_invalid_token(
            await http.get("/v1/experiments", headers=bearer("not-a-jwt"))
        )
        assert jwks.fetches == 0  # nothing reached the key lookup


async def test_every_v1_operation_needs_a_token(
    client_with: ClientFactory, jwks: JwksServer
) -> None:
    """Signed integration batches authenticate by signature; everything else by identity."""
    async with client_with(**jwt_settings(jwt_jwks_url=jwks.url)) as http:
        document = (await http.get("/openapi.json")).json()
        checked = 0
        for path, operations in document["paths"].items():
            if not path.startswith("/v1/") or path.startswith("/v1/integrations/"):
                continue
            concrete = path
            for name in ("experiment_id", "run_id", "capture_id", "webhook_id", "delivery_id"):
                concrete = concrete.replace("{" + name + "}", str(uuid.uuid4()))
            for method in operations:
                response = await http.request(method.upper(), concrete, json={})
                assert response.status_code == 401, (method, path, response.text)
                checked += 1
        assert checked > 40
