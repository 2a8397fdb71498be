from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.webhook.receiver import Receiver

# A tiny retry schedule so retries happen within a test; loopback targets allowed (the
# receiver runs on 127.0.0.1).
WEBHOOK_SETTINGS: dict[str, Any] = {
    "relay_enabled": True,
    "webhook_allow_private_targets": True,
    "webhook_retry_schedule": (0.1, 0.1, 0.1),
    "webhook_timeout_seconds": 2.0,
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def webhook_overrides() -> dict[str, Any]:
    """Settings a test changes (parametrize ``webhook_overrides`` to override)."""
    return {}


@pytest.fixture
async def hooks_app(database_url: str, webhook_overrides: dict[str, Any]) -> AsyncIterator[FastAPI]:
    """The app with the relay and the delivery worker running."""
    app = create_app(make_settings(database_url, **{**WEBHOOK_SETTINGS, **webhook_overrides}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def hooks(hooks_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hooks_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
