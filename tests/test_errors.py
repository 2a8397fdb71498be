"""Every error the service answers is a complete ``application/problem+json`` document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.settings import Settings
from tests.conftest import make_settings
from tests.problems import assert_problem

SECRET = "db-password-hunter2"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nothing/here")
    problem = assert_problem(response, 404, "not-found")
    assert "/v2/nothing/here" in problem["detail"]


async def test_wrong_method_is_405_naming_every_allowed_method(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/experiments")
    assert_problem(response, 405, "method-not-allowed")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    # GET and POST are two routes on the same path; Allow must list both (RFC 9110 15.5.6).
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed


async def test_body_over_the_limit_with_content_length_is_413(database_url: str) -> None:
    async with running(make_settings(database_url, max_body_bytes=2048)) as (_, http):
        body = b'{"name": "' + b"x" * 3000 + b'"}'
        response = await http.post(
            "/v1/experiments", content=body, headers={"content-type": "application/json"}
        )
        problem = assert_problem(response, 413, "payload-too-large")
        assert problem["max_bytes"] == 2048
        listed = await http.get("/v1/experiments")
        assert listed.json()["items"] == []


async def test_chunked_body_over_the_limit_is_413(database_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 512
        yield b'"}'

    async with running(make_settings(database_url, max_body_bytes=2048)) as (_, http):
        request = http.build_request(
            "POST",
            "/v1/experiments",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        response = await http.send(request)
        assert_problem(response, 413, "payload-too-large")
        assert (await http.get("/v1/experiments")).json()["items"] == []


async def test_body_under_the_limit_is_accepted(database_url: str) -> None:
    async with running(make_settings(database_url, max_body_bytes=2048)) as (_, http):
        response = await http.post("/v1/experiments", json={"name": "x" * 200})
        assert response.status_code == 201, response.text


async def test_text_plain_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/experiments", content=b"name=x", headers={"content-type": "text/plain"}
    )
    problem = assert_problem(response, 415, "unsupported-media-type")
    assert "text/plain" in problem["detail"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/experiments", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "bad-request")


async def test_validation_error_lists_each_invalid_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/experiments", json={"name": "", "unknown": 1})
    problem = assert_problem(response, 422, "validation-error")
    pointers = {item["pointer"] for item in problem["errors"]}
    assert {"/body/name", "/body/unknown"} <= pointers


async def test_unexpected_exception_is_500_without_leaking_its_text(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError(f"could not connect with password {SECRET}")

    app.add_api_route("/test/explode", explode)
    response = await client.get("/test/explode", headers={"X-Request-ID": "trace-500"})
    problem = assert_problem(response, 500, "internal-error")
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    # The one answer a client most needs to quote to support must carry its request id.
    assert response.headers["x-request-id"] == "trace-500"
    assert problem["detail"]


async def test_slow_request_is_503_with_retry_after(database_url: str) -> None:
    finished = asyncio.Event()

    async def dawdle() -> dict[str, str]:
        await asyncio.sleep(30)
        finished.set()
        return {}

    settings = make_settings(database_url, request_timeout=0.2, retry_after_seconds=7)
    async with running(settings) as (app, http):
        app.add_api_route("/test/dawdle", dawdle)
        started = asyncio.get_running_loop().time()
        response = await http.get("/test/dawdle")
        elapsed = asyncio.get_running_loop().time() - started
    problem = assert_problem(response, 503, "request-timeout")
    assert response.headers["retry-after"] == "7"
    assert "0.2" in problem["detail"]
    assert elapsed < 2.0
    assert not finished.is_set()
