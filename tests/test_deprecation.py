"""Deprecated operations announce it: RFC 9745 Deprecation and Link, RFC 8594 Sunset, and
``deprecated: true`` in the OpenAPI document (docs/adr/0021).

No operation is deprecated today, so these tests deprecate a real one (GET /v1/runs/{run_id})
on their own app through the same table-driven mechanism the service uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.deprecation import DEPRECATED_OPERATIONS, Deprecation, install_deprecations
from expsvc.settings import Settings
from tests.helpers import PROBLEM, create_run

SINCE = datetime(2026, 12, 1, tzinfo=UTC)
SUNSET = datetime(2027, 6, 30, 23, 59, 59, tzinfo=UTC)
INFO = "https://expsvc.example/docs/runbook#get-run"
GET_RUN = Deprecation(since=SINCE, info=INFO, sunset=SUNSET, successor="/v1/runs")


@pytest.fixture
async def deprecating_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    install_deprecations(app, {"GET /v1/runs/{run_id}": GET_RUN})
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


def _links(response: httpx.Response) -> list[str]:
    return response.headers.get_list("link")


async def test_a_deprecated_operation_sends_the_headers_and_still_works(
    deprecating_client: httpx.AsyncClient,
) -> None:
    run = await create_run(deprecating_client)
    response = await deprecating_client.get(f"/v1/runs/{run['id']}")
    assert response.status_code == 200
    assert response.json()["id"] == run["id"]
    assert response.headers["deprecation"] == f"@{int(SINCE.timestamp())}" == "@1796083200"
    assert response.headers["sunset"] == "Wed, 30 Jun 2027 23:59:59 GMT"
    assert parsedate_to_datetime(response.headers["sunset"]) == SUNSET
    assert _links(response) == [
        f'<{INFO}>; rel="deprecation"; type="text/html"',
        '</v1/runs>; rel="successor-version"',
    ]


async def test_error_answers_of_a_deprecated_operation_carry_them_too(
    deprecating_client: httpx.AsyncClient,
) -> None:
    response = await deprecating_client.get(f"/v1/runs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["deprecation"] == "@1796083200"
    response = await deprecating_client.get("/v1/runs/not-a-uuid")
    assert response.status_code == 422
    assert response.headers["deprecation"] == "@1796083200"


async def test_other_operations_do_not(deprecating_client: httpx.AsyncClient) -> None:
    run = await create_run(deprecating_client)
    for response in (
        await deprecating_client.get("/v1/runs"),
        await deprecating_client.patch(f"/v1/runs/{run['id']}", json={"name": "renamed"}),
    ):
        assert response.status_code == 200, response.text
        assert "deprecation" not in response.headers
        assert "sunset" not in response.headers


async def test_the_openapi_document_marks_it(deprecating_client: httpx.AsyncClient) -> None:
    document = (await deprecating_client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/runs/{run_id}"]["get"]
    assert operation["deprecated"] is True
    assert operation["x-deprecation"] == {
        "since": "2026-12-01T00:00:00+00:00",
        "info": INFO,
        "sunset": "2027-06-30T23:59:59+00:00",
        "successor": "/v1/runs",
    }
    assert "deprecated" not in document["paths"]["/v1/runs/{run_id}"]["patch"]


async def test_no_operation_of_the_service_is_deprecated_today(app: FastAPI) -> None:
    document = app.openapi()
    deprecated = [
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("deprecated")
    ]
    assert deprecated == sorted(DEPRECATED_OPERATIONS) == []


def test_a_table_entry_naming_no_operation_is_refused(settings: Settings) -> None:
    app = create_app(settings)
    install_deprecations(app, {"GET /v1/nothing": GET_RUN})
    with pytest.raises(ValueError, match="GET /v1/nothing"):
        app.openapi()


def test_dates_without_a_timezone_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Deprecation(since=datetime(2026, 12, 1), info=INFO)  # noqa: DTZ001
