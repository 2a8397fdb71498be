"""An app is freed once its lifespan is over: nothing module-wide keeps it alive.

FastAPI keeps facts about endpoints and dependencies in module-wide LRU caches that hold the
callables strongly; a callable that closes over its app (or its settings, engine, registry)
keeps that app alive for thousands of apps. One process builds one app, but the test suite
builds thousands: retained apps grew the heap until every full collection paused the process
for seconds, failing tests that measure a latency (issue 16).
"""

from __future__ import annotations

import gc
import weakref

import httpx

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.helpers import create_run


async def _served_app(database_url: str) -> weakref.ref[object]:
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            # A write, a read and the docs pages: every kind of route has run.
            run = await create_run(client)
            for path in (f"/v1/runs/{run['id']}", "/docs", "/redoc", "/openapi.json"):
                assert (await client.get(path)).status_code == 200, path
    return weakref.ref(app)


async def test_an_app_is_freed_after_its_lifespan(database_url: str) -> None:
    released = await _served_app(database_url)
    gc.collect()
    assert released() is None, [type(r).__qualname__ for r in gc.get_referrers(released())]
