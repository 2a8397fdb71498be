"""``expsvc worker``: the background work of the service, in a process of its own.

Runs the outbox relay, the webhook delivery worker and the periodic idempotency-key purge until
SIGTERM/SIGINT. Any number of workers (and ``expsvc serve`` processes with their in-process
relay) may run at once: they coordinate only through PostgreSQL locks.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from expsvc.db import Database, create_engine
from expsvc.event.runtime import build_relay, running
from expsvc.idempotency.purge import periodic_purge
from expsvc.settings import Settings
from expsvc.webhook.runtime import build_deliverer
from expsvc.webhook.runtime import running as delivering_webhooks

_log = structlog.get_logger("expsvc.worker")


async def run_worker(settings: Settings, url: str, metrics_port: int | None) -> None:
    registry = CollectorRegistry(auto_describe=True)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.host, registry=registry)
    database = Database(create_engine(settings, url))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    relay = build_relay(settings, database, registry)
    _log.info("worker started", sinks=[sink.name for sink in relay.sinks])
    try:
        async with (
            running(relay),
            delivering_webhooks(build_deliverer(settings, database, registry)),
            periodic_purge(database, settings.idempotency_purge_interval_seconds),
        ):
            await stop.wait()
    finally:
        await database.dispose()
        _log.info("worker stopped")
