"""PostgreSQL restarted (fast shutdown) and killed with SIGKILL under write load.

The service answers 503 with Retry-After while the database is away, recovers by itself once it
is back, and no acknowledged write is lost (each 201 committed before it was sent; a request cut
off mid-commit answers 503 ``commit-outcome-unknown`` and its repeat with the same
Idempotency-Key finds out). How it can fail: a response sent before its commit (a 201 for a run
the crash rolled back: ``missing`` > 0), a request the pool's dead connection turned into a 500
(``other_failures``), or a service that never reconnects (the poll's deadline).
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from tests.chaos.conftest import DATABASE, WriteLoad, chaos_settings, report
from tests.chaos.test_failover import serving
from tests.conftest import RUNTIME_ROLE
from tests.pgcluster import Cluster

pytestmark = pytest.mark.chaos

BEFORE = 100
AFTER = 100


def bounce(cluster: Cluster, how: str) -> None:
    if how == "restart":
        cluster.restart()
    else:
        cluster.kill9()
        cluster.start()  # crash recovery replays the WAL


@pytest.mark.parametrize("how", ["restart", "kill9"])
async def test_database_down_under_load_then_back_no_acknowledged_write_lost(
    pg_single: Cluster, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = chaos_settings(pg_single.url(DATABASE, RUNTIME_ROLE))
    async with serving(settings) as (_, http):
        load = WriteLoad(http)
        figures: dict[str, float] = {}

        async def scenario() -> None:
            await load.wait_acknowledged(BEFORE)
            acknowledged = len(load.acknowledged)
            started = time.monotonic()
            await asyncio.to_thread(bounce, pg_single, how)
            figures["database_back"] = time.monotonic() - started
            await load.wait_acknowledged(acknowledged + 1)
            figures["recovered"] = time.monotonic() - started
            await load.wait_acknowledged(acknowledged + AFTER)

        await load.run_until(scenario)
        assert not load.other_failures, load.other_failures[:5]
        assert (await http.get("/health/ready")).status_code == 200

    connection = await asyncpg.connect(pg_single.url(DATABASE), timeout=10)
    try:
        stored = {row[0] for row in await connection.fetch("SELECT id::text FROM experiments")}
    finally:
        await connection.close()
    missing = set(load.acknowledged.values()) - stored
    report(
        capsys,
        f"postgresql {how}",
        writes=len(load.acknowledged),
        requests=load.requests,
        failed_503=load.unavailable,
        missing=len(missing),
        seconds_database_away=f"{figures['database_back']:.2f}",
        seconds_to_recover=f"{figures['recovered']:.2f}",
    )
    assert not missing
    assert load.unavailable > 0, "the outage cost no request: it missed the load"
