"""/docs and /redoc load every asset from the app itself: they work with no internet."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.health.test_endpoints import metric_samples
from tests.problems import assert_problem

# Every <script src> and <link href> of a page: what a browser fetches before it can draw.
ASSET_REFERENCE = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)=[\"']([^\"']*)[\"']")
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}
MIN_ASSET_BYTES = 1000
ASSET_NAMES = ("swagger/swagger-ui.css", "fastapi/favicon.png", "no-such.js")


@pytest.mark.parametrize(
    ("page", "spec_reference", "expected_assets"),
    [
        ("/docs", "url: '/openapi.json'", {".js", ".css", ".png"}),
        ("/redoc", 'spec-url="/openapi.json"', {".js", ".png"}),
    ],
)
async def test_docs_page_loads_every_asset_from_the_app(
    client: httpx.AsyncClient, page: str, spec_reference: str, expected_assets: set[str]
) -> None:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"https?://|=[\"']//", html), html
    assert spec_reference in html

    references = ASSET_REFERENCE.findall(html)
    assert {"." + url.rsplit(".", 1)[-1] for url in references} == expected_assets, references
    for url in references:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in CONTENT_TYPES["." + url.rsplit(".", 1)[-1]], (url, content_type)
        assert len(asset.content) > MIN_ASSET_BYTES, url


async def test_pages_honour_the_root_path_of_a_proxy(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/expsvc")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as behind:
        html = (await behind.get("/expsvc/docs")).text
        references = ASSET_REFERENCE.findall(html)
        assert references
        assert all(url.startswith("/expsvc/docs/assets/") for url in references), references
        assert "url: '/expsvc/openapi.json'" in html
        assert (await behind.get(references[0])).status_code == 200


async def test_oauth2_redirect_page_is_served_offline(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", response.text)


async def test_the_scripts_fetch_nothing_from_outside_either(client: httpx.AsyncClient) -> None:
    """The two outside fetches the bundles are known to make: both are turned off."""
    assert '"validatorUrl": null' in (await client.get("/docs")).text
    bundle = await client.get("/docs/assets/redoc/redoc.standalone.js")
    assert "cdn.redoc.ly" not in bundle.text
    # The patched bundle loads its logo from beside the page instead.
    logo = await client.get("/redoc/logo-mini.svg")
    assert logo.status_code == 200
    assert logo.headers["content-type"].startswith("image/svg+xml")


async def test_openapi_document_still_served_without_the_docs_routes(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert paths
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]


async def test_unknown_asset_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/docs/assets/no-such.js"), 404, "not-found")
    # The wheel's own code sits beside its static folder; it must stay out of reach.
    assert_problem(await client.get("/docs/assets/..%2Fscripts.py"), 404, "not-found")
    response = await client.post("/docs/assets/swagger/swagger-ui.css")
    assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET, HEAD"


async def test_docs_routes_have_bounded_metrics_labels(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc", *(f"/docs/assets/{name}" for name in ASSET_NAMES)):
        await client.get(path)
    text = (await client.get("/metrics")).text
    routes = {
        labels["http_route"]
        for labels, _ in metric_samples(text, "http_server_request_duration_seconds_count")
    }
    assert {"/docs", "/redoc", "/docs/assets/{path:path}"} <= routes, routes
    assert not [route for route in routes if "favicon" in route or "no-such" in route]
