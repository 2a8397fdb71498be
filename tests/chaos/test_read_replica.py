"""Read routing to a real streaming replica (``EXPSVC_DATABASE_REPLICA_URL``, docs/adr/0029).

A private primary and its asynchronous streaming replica (:mod:`tests.pgcluster`). That a read
was the replica's is shown by what it cannot know: with the replica's replay paused
(``pg_wal_replay_pause()``) a write on the primary is missing from the reads it serves. The
writer's ``X-Expsvc-LSN`` then sends its read to the primary after the bounded wait; past the
lag bound, or with the replica stopped, every read is the primary's, and none is a 5xx.
How it can fail: reads always on the primary (the paused replica's 404 never shows), the token
ignored (the writer's read is 404), a stopped replica answered as a 503.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from expsvc.replica import LSN_HEADER, Replica, format_lsn, parse_lsn
from expsvc.settings import Settings
from tests.chaos.conftest import DATABASE, Pair, chaos_settings, report, serving
from tests.conftest import RUNTIME_ROLE
from tests.pgcluster import Cluster, clusters
from tests.statements import sent_statements

pytestmark = pytest.mark.chaos

WAIT_MS = 200


@pytest.fixture
def pg_async_pair(migrated_pgdata: Path) -> Iterator[Pair]:
    """A migrated primary and its asynchronous streaming replica (stopping or pausing the
    replica never holds up a commit), removed afterwards."""
    with clusters():
        primary = Cluster("primary").copy_of(migrated_pgdata)
        primary.start()
        yield Pair(primary, primary.replica("replica1"))


def replica_settings(pair: Pair, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_replica_url": pair.replica.url(DATABASE, RUNTIME_ROLE),
        "database_replica_check_interval_ms": 200,
        "database_replica_wait_ms": WAIT_MS,
    }
    return chaos_settings(pair.primary.url(DATABASE, RUNTIME_ROLE), **(values | overrides))


def routed(app: FastAPI, target: str, reason: str) -> float:
    registry = app.state.metrics.registry
    value = registry.get_sample_value(
        "expsvc_db_routed_reads_total", {"target": target, "reason": reason}
    )
    return value or 0.0


def replica_of(app: FastAPI) -> Replica:
    replica = app.state.database.replica
    assert replica is not None
    return replica


async def measured(replica: Replica, until: str, deadline: float = 20.0) -> None:
    """Check the lag until it is within the bound ("fresh"), past it ("lagging") or not known
    ("down")."""
    stop = time.monotonic() + deadline
    while True:
        await replica.check()
        lag = replica.lag
        state = "down" if lag is None else "fresh" if lag <= replica.max_lag else "lagging"
        if state == until:
            return
        assert time.monotonic() < stop, f"the replica stayed {state} (lag {lag})"
        await asyncio.sleep(0.05)


async def pause_replay(replica: Cluster) -> None:
    await asyncio.to_thread(replica.psql, "SELECT pg_wal_replay_pause()")
    stop = time.monotonic() + 20
    while await asyncio.to_thread(replica.psql, "SELECT pg_get_wal_replay_pause_state()") != (
        "paused"
    ):
        assert time.monotonic() < stop, "replay never paused"
        await asyncio.sleep(0.02)


async def create(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    response = await http.post("/v1/experiments", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers[LSN_HEADER]


def names(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["name"] for item in response.json()["items"]}


async def test_the_replica_serves_reads_and_the_writer_reads_its_own_writes(
    pg_async_pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    # A generous wait: the running replica must replay a write within it on a busy machine.
    settings = replica_settings(
        pg_async_pair, database_replica_max_lag_ms=60_000, database_replica_wait_ms=WAIT_MS * 5
    )
    async with serving(settings) as (app, http):
        replica = replica_of(app)
        await measured(replica, "fresh")
        before_id, before_lsn = await create(http, "before-pause")
        got = await http.get(f"/v1/experiments/{before_id}", headers={LSN_HEADER: before_lsn})
        assert got.status_code == 200, got.text
        assert routed(app, "replica", "replayed") == 1

        await pause_replay(pg_async_pair.replica)
        during_id, during_lsn = await create(http, "during-pause")
        await measured(replica, "fresh")  # within the generous bound of this test

        # Without the token the paused replica answers: it has never heard of the write.
        assert (await http.get(f"/v1/experiments/{during_id}")).status_code == 404
        listed = names(await http.get("/v1/experiments"))
        assert "before-pause" in listed
        assert "during-pause" not in listed
        export = await http.get("/v1/experiments/export", params={"format": "jsonl"})
        assert export.status_code == 200
        assert "before-pause" in export.text
        assert "during-pause" not in export.text
        assert routed(app, "replica", "within_bound") == 3

        # The writer's token: the replica cannot replay it, so the primary answers.
        started = time.monotonic()
        mine = await http.get(f"/v1/experiments/{during_id}", headers={LSN_HEADER: during_lsn})
        waited = time.monotonic() - started
        assert mine.status_code == 200, mine.text
        assert waited >= WAIT_MS * 5 / 1000 * 0.9
        assert routed(app, "primary", "lsn_not_replayed") == 1
        listed = names(await http.get("/v1/experiments", headers={LSN_HEADER: during_lsn}))
        assert "during-pause" in listed

        # Replay resumed: the replica catches up and serves the token itself.
        await asyncio.to_thread(pg_async_pair.replica.psql, "SELECT pg_wal_replay_resume()")
        mine = await http.get(f"/v1/experiments/{during_id}", headers={LSN_HEADER: during_lsn})
        assert mine.status_code == 200, mine.text
        assert routed(app, "replica", "replayed") == 2
        report(
            capsys,
            "read replica",
            replica_reads=routed(app, "replica", "within_bound")
            + routed(app, "replica", "replayed"),
            lsn_wait_ms=f"{waited * 1000:.0f}",
        )


async def test_reads_go_to_the_primary_while_the_replica_lags_past_the_bound(
    pg_async_pair: Pair,
) -> None:
    settings = replica_settings(pg_async_pair, database_replica_max_lag_ms=300)
    async with serving(settings) as (app, http):
        replica = replica_of(app)
        await measured(replica, "fresh")
        await pause_replay(pg_async_pair.replica)
        new_id, _ = await create(http, "while-lagging")
        await measured(replica, "lagging")
        # No token: the bound alone sends it to the primary, which knows the write.
        assert (await http.get(f"/v1/experiments/{new_id}")).status_code == 200
        assert "while-lagging" in names(await http.get("/v1/experiments"))
        assert routed(app, "primary", "lagging") >= 2
        assert routed(app, "replica", "within_bound") == 0

        await asyncio.to_thread(pg_async_pair.replica.psql, "SELECT pg_wal_replay_resume()")
        await measured(replica, "fresh")
        assert (await http.get(f"/v1/experiments/{new_id}")).status_code == 200
        assert routed(app, "replica", "within_bound") >= 1


async def test_a_stopped_replica_costs_no_read(
    pg_async_pair: Pair, capsys: pytest.CaptureFixture[str]
) -> None:
    """The replica stopped under a read load: every read answers 200 (run again on the
    primary, or sent there at once), writes go on; started again, it serves reads again."""
    settings = replica_settings(pg_async_pair, database_replica_max_lag_ms=5_000)
    async with serving(settings) as (app, http):
        replica = replica_of(app)
        experiment_id, _ = await create(http, "read-under-load")
        await measured(replica, "fresh")
        statuses: dict[int, int] = {}
        stop = asyncio.Event()

        async def read_loop() -> None:
            while not stop.is_set():
                for path in (f"/v1/experiments/{experiment_id}", "/v1/experiments"):
                    status = (await http.get(path)).status_code
                    statuses[status] = statuses.get(status, 0) + 1

        readers = [asyncio.create_task(read_loop()) for _ in range(4)]
        try:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(pg_async_pair.replica.stop, "immediate")
            await measured(replica, "down")
            await create(http, "replica-down")  # a write needs no replica
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.gather(*readers)
        fell_back = routed(app, "primary", "unavailable") + routed(app, "primary", "replica_failed")
        report(
            capsys,
            "replica stopped",
            reads=sum(statuses.values()),
            not_200=sum(n for status, n in statuses.items() if status != 200),
            served_by_primary=fell_back,
        )
        assert set(statuses) == {200}, statuses
        assert fell_back > 0

        await asyncio.to_thread(pg_async_pair.replica.start)
        await measured(replica, "fresh")
        before = routed(app, "replica", "within_bound")
        assert (await http.get(f"/v1/experiments/{experiment_id}")).status_code == 200
        assert routed(app, "replica", "within_bound") == before + 1


async def test_a_write_takes_its_position_in_one_statement_only_with_a_replica(
    pg_async_pair: Pair,
) -> None:
    async with serving(replica_settings(pg_async_pair)) as (app, http):
        await measured(replica_of(app), "fresh")
        with sent_statements(app.state.database.engine) as sent:
            response = await http.post("/v1/experiments", json={"name": "positioned"})
        assert response.status_code == 201
        assert parse_lsn(response.headers[LSN_HEADER]) is not None
        assert sum("pg_current_wal_lsn" in statement for statement in sent) == 1

    plain = chaos_settings(pg_async_pair.primary.url(DATABASE, RUNTIME_ROLE))
    async with serving(plain) as (app, http):
        assert app.state.database.replica is None
        with sent_statements(app.state.database.engine) as sent:
            response = await http.post("/v1/experiments", json={"name": "unpositioned"})
            read = await http.get(f"/v1/experiments/{response.json()['id']}")
        assert response.status_code == 201
        assert read.status_code == 200
        assert LSN_HEADER not in response.headers
        assert not any("wal_lsn" in statement for statement in sent)


async def test_a_replica_url_naming_a_primary_is_not_read(pg_async_pair: Pair) -> None:
    """After a failover promoted the replica, the setting names a server that takes writes:
    it is no replica any more (not in recovery), so every read goes to the primary."""
    primary_url = pg_async_pair.primary.url(DATABASE, RUNTIME_ROLE)
    settings = chaos_settings(primary_url, database_replica_url=primary_url)
    async with serving(settings) as (app, http):
        await measured(replica_of(app), "down")
        assert (await http.get("/v1/experiments")).status_code == 200
        assert routed(app, "primary", "unavailable") == 1
        assert routed(app, "replica", "within_bound") == 0


def test_lsn_text_round_trips_and_foreign_tokens_are_refused() -> None:
    for value in (0, 1, 0x16_B374D848, 2**64 - 1):
        assert parse_lsn(format_lsn(value)) == value
    assert format_lsn(0x16_B374D848) == "16/B374D848"
    for text in ("", "16", "x/1", "1/", "/1", "123456789/0", str(uuid.uuid4())):
        assert parse_lsn(text) is None


def test_a_replica_needs_a_primary_url() -> None:
    with pytest.raises(ValueError, match="EXPSVC_DATABASE_REPLICA_URL needs"):
        Settings(database_url=None, database_replica_url="postgresql://replica/db")
