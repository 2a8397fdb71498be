"""Helpers of the webhook tests: they talk to the public API only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx


async def create_webhook(client: httpx.AsyncClient, url: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/webhooks", json={"url": url, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(
    client: httpx.AsyncClient, webhook_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def delivery_when(
    client: httpx.AsyncClient,
    webhook_id: str,
    ready: Callable[[dict[str, Any]], bool],
    deadline: float = 10.0,
) -> dict[str, Any]:
    """Poll the delivery log until its newest delivery satisfies ``ready``."""
    stop = time.monotonic() + deadline
    while True:
        found = await deliveries(client, webhook_id)
        if found and ready(found[0]):
            return found[0]
        assert time.monotonic() < stop, f"delivery never got ready: {found[:1]}"
        await asyncio.sleep(0.03)


async def webhook_when(
    client: httpx.AsyncClient,
    webhook_id: str,
    ready: Callable[[dict[str, Any]], bool],
    deadline: float = 10.0,
) -> dict[str, Any]:
    stop = time.monotonic() + deadline
    while True:
        webhook: dict[str, Any] = (await client.get(f"/v1/webhooks/{webhook_id}")).json()
        if ready(webhook):
            return webhook
        assert time.monotonic() < stop, f"webhook never got ready: {webhook}"
        await asyncio.sleep(0.03)
