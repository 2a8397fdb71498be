"""Building the delivery worker from settings and running it beside the relay."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from prometheus_client import CollectorRegistry

from expsvc.db import Database
from expsvc.secret.keys import load_secret_box
from expsvc.settings import Settings
from expsvc.webhook.audience import WebhookAdmins
from expsvc.webhook.delivery import WebhookDeliverer
from expsvc.webhook.metrics import WebhookMetrics
from expsvc.webhook.policy import DeliveryPolicy


def build_deliverer(
    settings: Settings, database: Database, registry: CollectorRegistry
) -> WebhookDeliverer:
    """Raises :class:`~expsvc.secret.keys.SecretKeysError` without usable keys: the deliverer
    opens the stored signing secrets."""
    return WebhookDeliverer(
        database,
        DeliveryPolicy.from_settings(settings),
        WebhookMetrics(registry),
        load_secret_box(settings),
        admins=WebhookAdmins.from_settings(settings),
    )


@contextlib.asynccontextmanager
async def running(deliverer: WebhookDeliverer | None) -> AsyncIterator[None]:
    """Deliver webhooks in the background for the duration of the block (no-op for None)."""
    if deliverer is None:
        yield
        return
    task = asyncio.create_task(deliverer.run(), name="webhook-deliverer")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
