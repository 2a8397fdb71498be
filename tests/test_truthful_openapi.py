"""What the server does where the OpenAPI document used to promise otherwise (issue 13)."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/v1/captures/reconciliation", "GET"),
        ("DELETE", "/v1/runs/export", "GET"),
        ("OPTIONS", "/v1/experiments/export", "GET"),
        ("PUT", "/v1/runs/bulk/tags", "POST"),
    ],
)
async def test_undeclared_method_on_a_fixed_path_is_405(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["type"].endswith("/method-not-allowed")


async def test_unsigned_integration_request_is_401_even_when_not_configured(
    client: httpx.AsyncClient,
) -> None:
    unsigned = await client.post("/v1/integrations/telemetry/events", json=[])
    assert unsigned.status_code == 401, unsigned.text
    signed = await client.post(
        "/v1/integrations/telemetry/events",
        json=[],
        headers={"webhook-id": "m1", "webhook-timestamp": "1", "webhook-signature": "v1,x"},
    )
    assert signed.status_code == 404
    assert signed.json()["type"].endswith("/integration-disabled")


async def test_if_match_beyond_int4_matches_nothing(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/experiments", json={"name": "etag"})
    path = f"/v1/experiments/{created.json()['id']}"
    response = await client.patch(
        path, json={"name": "x"}, headers={"If-Match": '"970559754550903007"'}
    )
    assert response.status_code == 412, response.text


async def test_date_time_filter_refuses_a_bare_number(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/audit", params={"occurred_before": "0.5"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/query/occurred_before"
    assert (
        await client.get("/v1/audit", params={"occurred_before": "2026-01-01T00:00:00Z"})
    ).is_success


async def test_bulk_selection_refuses_null(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/runs/bulk/tags", json={"ids": None, "filter": {}, "add": ["a"]}
    )
    assert response.status_code == 422
    assert "ids cannot be null" in response.json()["detail"]
