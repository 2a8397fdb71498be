"""The database connection pool as gauges, read at scrape time (nothing on the request path)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine


class PoolCollector(Collector):
    """``expsvc_db_pool_connections{state}`` (in_use, idle), ``expsvc_db_pool_max_connections``
    and ``expsvc_db_pool_waiting_requests`` (tasks queued for a connection)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool: Any = self.engine.sync_engine.pool
        connections = GaugeMetricFamily(
            "expsvc_db_pool_connections",
            "Connections of the database pool, by state (in_use, idle).",
            labels=["state"],
        )
        connections.add_metric(["in_use"], _number(pool, "checkedout"))
        connections.add_metric(["idle"], _number(pool, "checkedin"))
        yield connections
        size = _number(pool, "size") + max(0, getattr(pool, "_max_overflow", 0))
        yield GaugeMetricFamily(
            "expsvc_db_pool_max_connections",
            "The most connections the pool opens (pool size plus overflow).",
            value=size,
        )
        yield GaugeMetricFamily(
            "expsvc_db_pool_waiting_requests",
            "Tasks waiting for a connection from the pool now.",
            value=_waiting(pool),
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # collected live; nothing to describe ahead


def _number(pool: Any, name: str) -> float:
    method = getattr(pool, name, None)
    return float(method()) if callable(method) else 0.0


def _waiting(pool: Any) -> float:
    # QueuePool's AsyncAdaptedQueue wraps an asyncio.Queue; its getters are the waiting tasks.
    # Read from __dict__: the queue is a memoized property, made on first use.
    queue = vars(getattr(pool, "_pool", None) or object()).get("_queue")
    getters = getattr(queue, "_getters", None)
    return float(sum(not waiter.done() for waiter in getters)) if getters is not None else 0.0
