"""What the server does where the OpenAPI document used to promise otherwise (issue 13)."""

from __future__ import annotations

import re

import httpx
import pytest

from expsvc.webhook.schemas import URL_PATTERN
from expsvc.webhook.targets import check_url


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


async def test_bulk_selection_reads_null_as_omitted(client: httpx.AsyncClient) -> None:
    # As 0.1.0 did (its clients may send it), and as the document declares: null is omitted.
    body = {"ids": None, "filter": {}, "expected_versions": None, "add": ["a"], "dry_run": True}
    response = await client.post("/v1/runs/bulk/tags", json=body)
    assert response.status_code == 200, response.text
    both = await client.post(
        "/v1/runs/bulk/tags",
        json={"ids": ["00000000-0000-0000-0000-000000000001"], "filter": {}, "add": ["a"]},
    )
    assert both.status_code == 422
    neither = await client.post(
        "/v1/runs/bulk/tags", json={"ids": None, "filter": None, "add": ["a"]}
    )
    assert neither.status_code == 422
    assert "give either ids or filter" in neither.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/expsvc",
        "HTTP://Hooks.Example.COM.:8080/a/b?c=d&e=%20",
        "https://my_service.example.com/ü",
        "https://bücher.example/hook",
        "http://203.0.113.7",
        "http://[2001:db8::1]:8443/hook",
        "https://[::ffff:203.0.113.7]/",
        "http://[1:2:3:4:5:6:7:8]",
        "http://[fe80::]/",
        "https://example.com:/",
    ],
)
def test_the_declared_url_pattern_accepts_what_the_server_accepts(url: str) -> None:
    # The pattern may not be narrower than check_url (a 0.1.0 client's URL would turn invalid).
    assert check_url(url) == url
    assert re.fullmatch(URL_PATTERN, url), url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://example.com/#top",
        "http://[::g]/",
    ],
)
def test_the_declared_url_pattern_refuses_what_the_server_refuses(url: str) -> None:
    assert not re.fullmatch(URL_PATTERN, url)
    with pytest.raises(ValueError, match="URL"):
        check_url(url)


@pytest.mark.parametrize(
    "if_match",
    [
        b"0",  # not a quoted tag
        b'"12"x',
        '"\u00b2"'.encode("latin-1"),  # a digit to str.isdigit, not to int(): was a 500
        b'W/"a b"',  # a weak tag outside RFC 9110's syntax
        b'W/x, "1"',
    ],
)
async def test_a_malformed_if_match_is_400(client: httpx.AsyncClient, if_match: bytes) -> None:
    created = await client.post("/v1/experiments", json={"name": "etag"})
    path = f"/v1/experiments/{created.json()['id']}"
    response = await client.patch(path, json={"name": "x"}, headers={"If-Match": if_match})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_if_match_lists_and_weak_tags_are_read(client: httpx.AsyncClient) -> None:
    created = await client.post("/v1/experiments", json={"name": "etag"})
    path = f"/v1/experiments/{created.json()['id']}"
    response = await client.patch(
        path, json={"name": "x"}, headers={"If-Match": 'W/"1", "7" ,\t"1"'}
    )
    assert response.status_code == 200, response.text
    stale = await client.patch(path, json={"name": "y"}, headers={"If-Match": 'W/"2"'})
    assert stale.status_code == 412
    # A weak tag may hold commas and backslashes (RFC 9110 etagc; found by schemathesis): the
    # list is read by its grammar, not split on commas.
    listed = await client.patch(
        path, json={"name": "z"}, headers={"If-Match": 'W/"Qs\\\';Bu,p+`",\t"2"'}
    )
    assert listed.status_code == 200, listed.text


async def test_an_integer_valued_float_is_an_integer(client: httpx.AsyncClient) -> None:
    # JSON Schema's "integer" includes 381.0; true and "600" are still refused.
    created = await client.post(
        "/v1/experiments", json={"name": "limits", "heartbeat_timeout_seconds": 600.0}
    )
    assert created.status_code == 201, created.text
    assert created.json()["heartbeat_timeout_seconds"] == 600
    for value in (True, "600", 600.5):
        refused = await client.post(
            "/v1/experiments", json={"name": "limits", "heartbeat_timeout_seconds": value}
        )
        assert refused.status_code == 422, value


async def test_a_feed_cursor_beyond_a_bigint_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/events", params={"after": str(2**63)})
    assert response.status_code == 422, response.text
    assert (await client.get("/v1/events", params={"after": str(2**63 - 1)})).status_code == 200
