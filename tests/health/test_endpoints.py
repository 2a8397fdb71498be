from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from expsvc import __version__
from expsvc.migrate import downgrade, head_revision
from expsvc.release.catalogue import current_release
from tests.problems import assert_problem


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_live_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


async def test_ready_reports_version_and_schema_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["schema_revision"] == head_revision()
    assert body["expected_schema_revision"] == head_revision()
    assert body["checks"] == {"database": "ok", "schema": "ok"}
    assert body["oldest_schema_revision"] == current_release().oldest_schema


async def test_ready_is_503_when_the_schema_is_missing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    response = await client.get("/health/ready")
    problem = assert_problem(response, 503, "not-ready")
    assert response.headers["retry-after"]
    assert problem["checks"] == {"database": "ok", "schema": "missing"}
    assert problem["schema_revision"] is None
    assert problem["expected_schema_revision"] == head_revision()
    assert problem["detail"].startswith("schema: missing (")


async def test_writes_to_an_unmigrated_database_are_503_not_500(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    response = await client.post("/v1/experiments", json={"name": "e"})
    problem = assert_problem(response, 503, "database-unavailable")
    assert "expsvc db upgrade" in problem["detail"]
    assert response.headers["retry-after"]


# Behind and ahead of the head: test_schema_compatibility.py.


async def test_metrics_label_requests_by_route_template(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/experiments", json={"name": "m"})
    experiment_id = created.json()["id"]
    for _ in range(3):
        assert (await client.get(f"/v1/experiments/{experiment_id}")).status_code == 200
    assert (await client.get(f"/v1/experiments/{uuid.uuid4()}")).status_code == 404
    await client.get("/no/such/route/1")
    await client.get("/no/such/route/2")

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = {
        (
            labels["http_route"],
            labels["http_request_method"],
            labels["http_response_status_code"],
        ): value
        for labels, value in metric_samples(
            response.text, "http_server_request_duration_seconds_count"
        )
    }
    route = "/v1/experiments/{experiment_id}"
    assert counts[(route, "GET", "200")] == 3
    assert counts[(route, "GET", "404")] == 1
    assert counts[("/v1/experiments", "POST", "201")] == 1
    # Unknown paths share one label value, so scanners cannot blow up the series count.
    assert counts[("<unmatched>", "GET", "404")] == 2
    assert not [key for key in counts if experiment_id in key[0] or "/no/such" in key[0]]


async def test_in_flight_gauge_counts_the_scrape_itself_and_drains(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(2):  # a gauge that is never decremented would read 2 the second time
        response = await client.get("/metrics")
        assert metric_samples(response.text, "http_server_active_requests") == [({}, 1.0)]


async def test_request_id_is_echoed_when_given(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "req-42.a:b_c"})
    assert response.headers["x-request-id"] == "req-42.a:b_c"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health/live")).headers["x-request-id"]
    second = (await client.get("/health/live")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("malformed", ["has space", "x" * 129, "<script>", "a,b", ""])
async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient, malformed: str) -> None:
    response = await client.get("/v2/missing", headers={"X-Request-ID": malformed})
    assigned = response.headers["x-request-id"]
    assert assigned != malformed
    assert re.fullmatch(r"[0-9a-f]{32}", assigned)
