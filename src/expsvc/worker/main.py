"""``expsvc worker``: the background work of the service, in a process of its own.

Runs every registered job and loop (:mod:`expsvc.worker.jobs`: outbox relay, webhook delivery,
run reaper, purges) until SIGTERM/SIGINT, then lets each job finish the batch it is in and
exits. Any number of workers (and ``expsvc serve`` processes with their in-process worker) may
run at once: they coordinate only through PostgreSQL locks.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from prometheus_client import CollectorRegistry, start_http_server

from expsvc.db import Database, create_engine
from expsvc.observability import tracing
from expsvc.observability.tracing import configure_tracing
from expsvc.settings import Settings
from expsvc.worker.jobs import build_runner

_log = structlog.get_logger("expsvc.worker")


async def run_worker(settings: Settings, url: str, metrics_port: int | None) -> None:
    registry = CollectorRegistry(auto_describe=True)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.host, registry=registry)
    configure_tracing(settings.tracing_enabled)
    database = Database(create_engine(settings, url))
    database.observe(registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = build_runner(settings, database, registry, in_app=False)
    _log.info("worker started", jobs=runner.names)
    try:
        async with runner:
            await stop.wait()
            _log.info("worker stopping: finishing current batches")
    finally:
        await database.dispose()
        tracing.shutdown()
        _log.info("worker stopped")
