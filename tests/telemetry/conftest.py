from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.telemetry.support import ARTIFACT_SECRET, TELEMETRY_SECRET


@pytest.fixture
def integration_overrides() -> dict[str, Any]:
    """Settings a test changes (parametrize ``integration_overrides`` to override)."""
    return {}


@pytest.fixture
async def integrated_app(
    database_url: str, integration_overrides: dict[str, Any]
) -> AsyncIterator[FastAPI]:
    """The app with both neighbours' secrets configured (no background jobs running)."""
    settings = make_settings(
        database_url,
        telemetry_ingest_secret=TELEMETRY_SECRET,
        artifact_service_secret=ARTIFACT_SECRET,
        capture_reconcile_interval_seconds=0,
        **integration_overrides,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def ingest(integrated_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=integrated_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
