"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their assets served by the app itself.

FastAPI's own pages load their JavaScript, CSS and favicon from a CDN, so on an internal network
they are blank. The ``fastapi-standalone-docs`` wheel ships the same files (and a ReDoc bundle
patched to load its logo from beside the page, not from cdn.redoc.ly); we serve them under
``/docs/assets/`` and render FastAPI's page templates pointing there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
# Only the path is used: the package's own API patches FastAPI module-wide.
ASSETS_DIR = Path(str(files("fastapi_standalone_docs") / "static"))
# Swagger UI otherwise shows a badge image from validator.swagger.io for any non-localhost spec
# URL: an outside request that would also hand our spec's address to a third party.
_SWAGGER_DEFAULTS = {"validatorUrl": None}


def install_docs_ui(app: FastAPI) -> None:
    """Serve the docs pages; the app must be built with ``docs_url=None, redoc_url=None``."""
    # check_dir: a wheel that moved its files fails at startup, not as a blank page.
    app.state.docs_assets = StaticFiles(directory=ASSETS_DIR, check_dir=True)

    # API routes (not plain ones) so the metrics get a route label; one template for all assets
    # keeps that label bounded. GET and HEAD only, so a wrong method's 405 names a true Allow.
    # The endpoints are module functions that find the app on the request, never closures over
    # it: FastAPI caches facts about endpoints in module-wide LRU caches holding them strongly,
    # so a closure would keep every app ever built alive (a test process builds thousands).
    def add(path: str, endpoint: Callable[..., Awaitable[Response]]) -> None:
        app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)

    add(f"{ASSETS_URL}/{{path:path}}", _asset)
    add(DOCS_URL, _swagger_ui)
    if app.swagger_ui_oauth2_redirect_url:
        add(app.swagger_ui_oauth2_redirect_url, _swagger_ui_redirect)
    add(REDOC_URL, _redoc)
    add(f"{REDOC_URL}/logo-mini.svg", _redoc_logo)


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(app: FastAPI, root: str) -> str:
    return root + (app.openapi_url or "/openapi.json")


async def _asset(path: str, request: Request) -> Response:
    assets: StaticFiles = request.app.state.docs_assets
    return await assets.get_response(path, request.scope)


async def _redoc_logo(request: Request) -> Response:
    # The patched bundle asks for <page path>/logo-mini.svg.
    assets: StaticFiles = request.app.state.docs_assets
    return await assets.get_response("redoc/logo-mini.svg", request.scope)


async def _swagger_ui(request: Request) -> Response:
    app: FastAPI = request.app
    root = _prefix(request)
    redirect_url = app.swagger_ui_oauth2_redirect_url
    return get_swagger_ui_html(
        openapi_url=_openapi_url(app, root),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/fastapi/favicon.png",
        oauth2_redirect_url=root + redirect_url if redirect_url else None,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=_SWAGGER_DEFAULTS | (app.swagger_ui_parameters or {}),
    )


async def _swagger_ui_redirect(request: Request) -> Response:
    return get_swagger_ui_oauth2_redirect_html()


async def _redoc(request: Request) -> Response:
    app: FastAPI = request.app
    root = _prefix(request)
    return get_redoc_html(
        openapi_url=_openapi_url(app, root),
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/fastapi/favicon.png",
        with_google_fonts=False,
    )
