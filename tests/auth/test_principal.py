from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.problems import assert_problem

HEADER = "X-Forwarded-User"


@pytest.fixture
async def gated(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app that takes the principal from the gateway's identity header."""
    app = create_app(make_settings(database_url, identity_header=HEADER))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_missing_identity_is_401(gated: httpx.AsyncClient) -> None:
    response = await gated.post("/v1/experiments", json={"name": "x"})
    problem = assert_problem(response, 401, "unauthorized")
    assert HEADER in problem["detail"]
    assert_problem(await gated.get("/v1/experiments"), 401, "unauthorized")
    listed = await gated.get("/v1/experiments", headers={HEADER: "alice"})
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "malformed",
    ["", "has space", "-leading-dash", "x" * 257, "alice,bob", "ünïcode", "a/b"],
)
async def test_malformed_identity_is_401(gated: httpx.AsyncClient, malformed: str) -> None:
    response = await gated.post(
        "/v1/experiments", json={"name": "x"}, headers={HEADER.encode(): malformed.encode()}
    )
    assert_problem(response, 401, "unauthorized")
    listed = await gated.get("/v1/experiments", headers={HEADER: "alice"})
    assert listed.json()["items"] == []


@pytest.mark.parametrize("user", ["alice", "bob@example.com", "svc:ci-runner", "u_1.2+x"])
async def test_valid_identity_becomes_created_by(gated: httpx.AsyncClient, user: str) -> None:
    response = await gated.post("/v1/experiments", json={"name": "x"}, headers={HEADER: user})
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == user
    fetched = await gated.get(f"/v1/experiments/{response.json()['id']}", headers={HEADER: user})
    assert fetched.json()["created_by"] == user


async def test_header_name_is_case_insensitive(gated: httpx.AsyncClient) -> None:
    response = await gated.post(
        "/v1/experiments", json={"name": "x"}, headers={HEADER.lower(): "carol"}
    )
    assert response.json()["created_by"] == "carol"


async def test_health_needs_no_identity(gated: httpx.AsyncClient) -> None:
    assert (await gated.get("/health/live")).status_code == 200
    assert (await gated.get("/health/ready")).status_code == 200


async def test_without_configuration_everyone_is_anonymous(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/experiments", json={"name": "x"}, headers={HEADER: "mallory"})
    assert response.status_code == 201, response.text
    assert response.json()["created_by"] == "anonymous"
