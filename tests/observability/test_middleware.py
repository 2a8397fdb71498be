"""RequestMiddleware: the one layer in front of the routes (see also tests/test_errors.py and
tests/health for the answers it shares with the problem handlers)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.responses import Response, StreamingResponse
from starlette.routing import Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from expsvc.app import create_app
from expsvc.observability.metrics import HttpMetrics
from expsvc.observability.middleware import RequestMiddleware
from tests.conftest import make_settings
from tests.problems import assert_problem


@asynccontextmanager
async def serving(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(make_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield app, http


def request_counts(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (
            sample.labels["http_route"],
            sample.labels["http_request_method"],
            sample.labels["http_response_status_code"],
        ): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_server_request_duration_seconds_count"
    }


def test_the_stack_is_one_middleware_then_the_problem_handlers(app: FastAPI) -> None:
    layers: list[type] = []
    layer: Any = app.build_middleware_stack()
    while not isinstance(layer, Router):
        layers.append(type(layer))
        layer = layer.app
    assert layers == [RequestMiddleware, ExceptionMiddleware, AsyncExitStackMiddleware]


async def test_access_log_line_carries_the_request_id_which_is_unbound_after(
    client: httpx.AsyncClient,
) -> None:
    with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        response = await client.get("/health/live", headers={"X-Request-ID": "req-7"})
    assert response.headers["x-request-id"] == "req-7"
    [line] = [entry for entry in logs if entry["event"] == "request"]
    assert line["request_id"] == "req-7"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/health/live", 200)
    assert line["duration_ms"] >= 0
    assert "request_id" not in structlog.contextvars.get_contextvars()


async def test_a_generated_request_id_is_a_uuid4(client: httpx.AsyncClient) -> None:
    assigned = (await client.get("/health/live")).headers["x-request-id"]
    assert uuid.UUID(hex=assigned).version == 4
    assert uuid.UUID(hex=assigned).hex == assigned


async def test_unexpected_exception_is_logged_once_with_the_request_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def explode() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/test/explode", explode)
    with structlog.testing.capture_logs([structlog.contextvars.merge_contextvars]) as logs:
        response = await client.get("/test/explode", headers={"X-Request-ID": "trace-1"})
    assert_problem(response, 500, "internal-error")
    assert response.headers["x-request-id"] == "trace-1"
    [error] = [entry for entry in logs if entry["event"] == "unhandled error"]
    assert error["log_level"] == "error"
    assert error["request_id"] == "trace-1"
    assert error["path"] == "/test/explode"
    assert error["exc_info"] is True
    [line] = [entry for entry in logs if entry["event"] == "request"]
    assert line["status"] == 500


async def test_refusals_carry_the_request_id_and_are_counted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/experiments",
        content=b"name=x",
        headers={"content-type": "text/plain", "X-Request-ID": "refused-1"},
    )
    assert_problem(response, 415, "unsupported-media-type")
    assert response.headers["x-request-id"] == "refused-1"
    counts = request_counts((await client.get("/metrics")).text)
    assert counts[("<unmatched>", "POST", "415")] == 1


async def test_oversized_body_read_by_the_endpoint_is_413_not_an_unhandled_error(
    database_url: str,
) -> None:
    async def echo_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 512

    async with serving(database_url, max_body_bytes=2048) as (app, http):
        app.add_api_route("/test/size", echo_size, methods=["POST"])
        with structlog.testing.capture_logs() as logs:
            response = await http.post(
                "/test/size",
                content=chunks(),
                headers={"content-type": "application/json", "X-Request-ID": "big-1"},
            )
        small = await http.post("/test/size", content=b"{}")
    assert_problem(response, 413, "payload-too-large")
    assert response.headers["x-request-id"] == "big-1"
    assert [entry["event"] for entry in logs] == ["request"]
    assert logs[0]["status"] == 413
    assert small.json() == {"size": 2}


async def test_timeout_answer_carries_the_request_id(database_url: str) -> None:
    async def dawdle() -> None:
        await asyncio.sleep(30)

    async with serving(database_url, request_timeout=0.2) as (app, http):
        app.add_api_route("/test/dawdle", dawdle)
        response = await http.get("/test/dawdle", headers={"X-Request-ID": "slow-1"})
        counts = request_counts((await http.get("/metrics")).text)
    assert_problem(response, 503, "request-timeout")
    assert response.headers["x-request-id"] == "slow-1"
    assert counts[("/test/dawdle", "GET", "503")] == 1


async def test_a_started_response_outlives_the_timeout(database_url: str) -> None:
    # The response must start within the timeout (1 s, where 0.2 s left a loaded machine little
    # room); the stream then outlives it: the sleep outlasts the deadline whatever the load.
    async def ticks() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(1.5)
        yield b"second\n"

    async def stream() -> StreamingResponse:
        return StreamingResponse(ticks(), media_type="text/plain")

    async with serving(database_url, request_timeout=1.0) as (app, http):
        app.add_api_route("/test/stream", stream)
        response = await http.get("/test/stream")
    assert response.status_code == 200
    assert response.text == "first\nsecond\n"
    assert response.headers["x-request-id"]


# The deadline, against the middleware alone: a bare ASGI app, no database.


class Sent(list[Message]):
    async def __call__(self, message: Message) -> None:
        self.append(message)


async def render_500(request: Request, error: Exception) -> Response:
    return Response("unexpected", status_code=500)


def alone(app: ASGIApp, timeout: float) -> RequestMiddleware:
    return RequestMiddleware(
        app,
        metrics=HttpMetrics(CollectorRegistry()),
        timeout=timeout,
        retry_after=3,
        max_body_bytes=1024,
        on_error=render_500,
    )


async def no_body() -> Message:
    return {"type": "http.request", "body": b""}


def get(path: str) -> Scope:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


async def test_the_deadline_answers_503_and_leaves_the_task_uncancelled() -> None:
    async def hang(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    sent = Sent()

    async def serve() -> int:
        await alone(hang, timeout=0.05)(get("/slow"), no_body, sent)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()  # as asyncio.timeout leaves it: the cancellation is spent

    assert await asyncio.create_task(serve()) == 0
    assert sent[0]["status"] == 503
    assert (b"retry-after", b"3") in sent[0]["headers"]


async def test_a_cancellation_from_outside_is_not_a_timeout() -> None:
    entered = asyncio.Event()

    async def hang(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await asyncio.Event().wait()

    sent = Sent()
    task = asyncio.create_task(alone(hang, timeout=30)(get("/slow"), no_body, sent))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []
