"""What the outbox promises, against real processes: nothing from a rolled-back write; nothing
lost when a relay is killed mid-batch, when Redis goes away, or with two relays at once; order
per entity. Duplicates (allowed: delivery is at least once) are counted and reported."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import TEST_SECRET_KEY
from tests.event.support import (
    Entry,
    create_experiments,
    envelope,
    outbox_event_ids,
    read_stream,
    redis_client,
    relay_app,
)
from tests.helpers import act, create_experiment, create_run
from tests.services import RedisServer, free_port

DRAIN_DEADLINE = 120.0


def report(capsys: pytest.CaptureFixture[str], message: str) -> None:
    """A line in the test output even without -s (duplicates are worth seeing)."""
    with capsys.disabled():
        sys.stdout.write(f"\n[outbox] {message}\n")


def duplicates(entries: list[Entry]) -> int:
    return sum(count - 1 for count in Counter(e[1]["id"] for e in entries).values())


def first_deliveries(entries: list[Entry]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    events = []
    for entry in entries:
        if entry[1]["id"] not in seen:
            seen.add(entry[1]["id"])
            events.append(envelope(entry))
    return events


async def wait_for_ids(redis_url: str, stream: str, ids: set[str]) -> list[Entry]:
    """Poll the stream until every id in ``ids`` is in it; return all its entries."""
    stop = time.monotonic() + DRAIN_DEADLINE
    async with redis_client(redis_url) as redis:
        while True:
            entries = await read_stream(redis, stream)
            missing = ids - {fields["id"] for _, fields in entries}
            if not missing:
                return entries
            assert time.monotonic() < stop, f"{len(missing)} of {len(ids)} events never arrived"
            await asyncio.sleep(0.1)


# --- (a) a rolled-back write emits nothing ---------------------------------------------------


async def outbox_rows(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM outbox_events"))
    finally:
        await connection.close()


async def test_a_write_failing_at_commit_leaves_no_outbox_row(
    client: httpx.AsyncClient, database_url: str
) -> None:
    run = await create_run(client)
    before = await outbox_rows(database_url)
    # A deferred constraint trigger fails the commit itself, after the run row, its history
    # and its outbox row were all written: the whole transaction must go.
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON runs
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit();
            """
        )
        response = await client.post(f"/v1/runs/{run['id']}/start")
        assert response.status_code >= 500, response.text
        assert await outbox_rows(database_url) == before
        status = await connection.fetchval("SELECT status FROM runs WHERE id = $1", run["id"])
        assert status == "draft"
    finally:
        await connection.close()


async def test_refused_requests_leave_no_outbox_row(
    client: httpx.AsyncClient, database_url: str
) -> None:
    run = await create_run(client)
    path = f"/v1/runs/{run['id']}"
    before = await outbox_rows(database_url)
    assert (await client.post(f"{path}/finish")).status_code == 409
    assert (await client.post(f"{path}/fail", json={})).status_code == 422
    assert (await client.patch(path, json={"name": ""})).status_code == 422
    stale = await client.patch(path, json={"name": "x"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"])
    refused = await client.delete(f"/v1/experiments/{experiment['id']}")  # it has a run
    assert refused.status_code == 409
    assert await outbox_rows(database_url) == before + 2  # the experiment and run created


# --- relays as real processes ------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def metrics(self) -> dict[tuple[str, str], float]:
        assert self.process.poll() is None, f"worker exited:\n{self.output()}"
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return {
            (sample.name, sample.labels.get("sink", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("expsvc_outbox_")
        }

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    """Start ``expsvc worker`` processes; each is stopped after the test."""
    workers: list[Worker] = []

    def start(database_url: str, redis_url: str, stream: str, **extra: str) -> Worker:
        env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
        env |= {
            "EXPSVC_DATABASE_URL": database_url,
            "EXPSVC_SECRET_KEYS": TEST_SECRET_KEY,  # the deliverer opens webhook secrets
            "EXPSVC_REDIS_URL": redis_url,
            "EXPSVC_REDIS_STREAM": stream,
            "EXPSVC_LOG_FORMAT": "console",
            "EXPSVC_LOG_LEVEL": "INFO",
            "EXPSVC_RELAY_METRICS_INTERVAL_SECONDS": "0.2",
            **extra,
        }
        port = free_port()
        log = tmp_path / f"worker-{len(workers)}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "expsvc", "worker", "--metrics-port", str(port)],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(process, log, port)
        workers.append(worker)
        until = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"worker exited:\n{worker.output()}"
            try:
                worker.metrics()
                return worker
            except httpx.TransportError:
                assert time.monotonic() < until, f"worker never served metrics:\n{worker.output()}"
                time.sleep(0.05)

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.process
async def test_killing_a_relay_mid_batch_loses_nothing(
    database_url: str,
    redis_url: str,
    redis_stream: str,
    start_worker: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    total = 2000
    await create_experiments(database_url, total)
    ids = await outbox_event_ids(database_url)
    small_batches = {"EXPSVC_RELAY_BATCH_SIZE": "50"}
    kills: list[int] = []
    async with redis_client(redis_url) as redis:
        # Kill -9 three times while the stream grows (first at the first entry), then let a
        # fresh relay finish.
        for threshold in (1, total // 3, 2 * total // 3):
            worker = start_worker(database_url, redis_url, redis_stream, **small_batches)
            stop = time.monotonic() + DRAIN_DEADLINE
            while (length := await redis.xlen(redis_stream)) < threshold:
                assert time.monotonic() < stop, worker.output()
                await asyncio.sleep(0.002)
            worker.kill9()
            kills.append(length)
        last = start_worker(database_url, redis_url, redis_stream, **small_batches)
    entries = await wait_for_ids(redis_url, redis_stream, set(ids))
    # `expsvc worker --metrics-port` shows the backlog drained (refreshed every 0.2 s here).
    stop = time.monotonic() + 30
    while last.metrics().get(("expsvc_outbox_backlog_events", "redis")) != 0:
        assert time.monotonic() < stop, last.metrics()
        await asyncio.sleep(0.1)
    assert last.metrics()[("expsvc_outbox_oldest_unpublished_age_seconds", "redis")] == 0

    assert {fields["id"] for _, fields in entries} == set(ids)
    assert [e["id"] for e in first_deliveries(entries)] == ids  # log order, every event
    report(
        capsys,
        f"kill -9 mid-batch: {total} events, killed at stream lengths {kills}, "
        f"{len(entries)} entries, {duplicates(entries)} duplicates",
    )
    assert kills[0] < total, "the relay finished before it could be killed"


@pytest.mark.process
async def test_two_relays_at_once_lose_nothing(
    database_url: str,
    redis_url: str,
    redis_stream: str,
    start_worker: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = {"EXPSVC_RELAY_BATCH_SIZE": "100"}
    workers = [start_worker(database_url, redis_url, redis_stream, **batch) for _ in range(2)]
    # Events commit while both relays run: they compete for the sequencer and the cursor.
    for _ in range(10):
        await create_experiments(database_url, 150, per_transaction=10)
    entries = await wait_for_ids(redis_url, redis_stream, set(await outbox_event_ids(database_url)))
    ids = await outbox_event_ids(database_url)  # now all sequenced: in log order

    assert [e["id"] for e in first_deliveries(entries)] == ids
    sequences = [int(e["sequence"]) for e in first_deliveries(entries)]
    assert sequences == sorted(sequences)
    published = [
        w.metrics().get(("expsvc_outbox_published_events_total", "redis"), 0) for w in workers
    ]
    sequenced = [w.metrics().get(("expsvc_outbox_sequenced_events_total", ""), 0) for w in workers]
    assert sum(sequenced) == len(ids)  # each event sequenced exactly once
    assert sum(published) == len(entries)
    report(
        capsys,
        f"two relays: {len(ids)} events, {len(entries)} entries, {duplicates(entries)} "
        f"duplicates; published per relay {published}, sequenced per relay {sequenced}",
    )
    assert duplicates(entries) == 0  # the cursor row lock lets one relay publish at a time


SINKS = ("webhooks", "redis")  # the worker's sinks with EXPSVC_REDIS_URL set


def leading(worker: Worker) -> float:
    return worker.metrics().get(("expsvc_outbox_relay_leading", ""), 0)


def published(worker: Worker) -> dict[str, float]:
    """Events this worker published, per sink (0 for one it never led)."""
    samples = worker.metrics()
    return {sink: samples.get(("expsvc_outbox_published_events_total", sink), 0) for sink in SINKS}


async def wait_until(condition: Any, what: str, deadline: float = 30.0) -> float:
    """Poll ``condition`` until true; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < deadline, f"never: {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def sink_positions(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT sink, last_seq FROM event_sink_cursors")
        return {row["sink"]: int(row["last_seq"]) for row in rows}
    finally:
        await connection.close()


@pytest.mark.process
async def test_two_relays_share_the_sinks_and_a_survivor_takes_the_dead_ones(
    database_url: str,
    redis_url: str,
    redis_stream: str,
    start_worker: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    batch = {"EXPSVC_RELAY_BATCH_SIZE": "50"}
    workers = [start_worker(database_url, redis_url, redis_stream, **batch) for _ in range(2)]
    # The first one up leads both sinks; it hands one over once it counts two relays.
    balanced = await wait_until(
        lambda: [leading(worker) for worker in workers] == [1, 1], "one sink each"
    )
    before = [published(worker) for worker in workers]  # events of the fixtures, if any
    await create_experiments(database_url, 300, per_transaction=10)
    ids = await outbox_event_ids(database_url)
    entries = await wait_for_ids(redis_url, redis_stream, set(ids))

    def since_balanced(index: int) -> dict[str, float]:
        now = published(workers[index])
        return {sink: now[sink] - before[index][sink] for sink in SINKS}

    await wait_until(
        lambda: sum(sum(since_balanced(index).values()) for index in (0, 1)) >= 2 * 300,
        "both sinks published everything",
    )
    shared = [since_balanced(index) for index in (0, 1)]
    # Each relay published to its own sink only, at least one batch.
    for counts in shared:
        assert sorted(counts.values()) == [0, 300], shared
    assert {sink for counts in shared for sink, count in counts.items() if count} == set(SINKS)
    assert [e["id"] for e in first_deliveries(entries)] == ids

    dead, survivor = workers
    dead_sinks = [sink for sink, count in shared[0].items() if count]
    dead.kill9()  # its LISTEN session, and its sinks' locks with it, end with the process
    took_over = await wait_until(lambda: leading(survivor) == 2, "the survivor leads both")
    survivor_before = sum(published(survivor).values())
    await create_experiments(database_url, 100, per_transaction=10)
    ids = await outbox_event_ids(database_url)
    entries = await wait_for_ids(redis_url, redis_stream, set(ids))
    await wait_until(
        lambda: sum(published(survivor).values()) >= survivor_before + 2 * 100,
        "the survivor published the new events to both sinks",
    )
    after = published(survivor)
    positions = await sink_positions(database_url)
    report(
        capsys,
        f"two relays sharing the sinks: balanced after {balanced:.1f}s; published per relay "
        f"{shared} (300 events); relay leading {dead_sinks} killed, the survivor "
        f"took them within {took_over:.1f}s and published {after} in all ({len(ids)} events); "
        f"{duplicates(entries)} duplicates, lost 0",
    )
    for sink in dead_sinks:
        assert after[sink] > 0  # the survivor published to the dead relay's sink
    # Every event reached both sinks, in log order: the Redis stream's first deliveries follow
    # seq, and each sink's cursor (which only moves forward, batch by batch) is at the end.
    assert [e["id"] for e in first_deliveries(entries)] == ids
    sequences = [int(e["sequence"]) for e in first_deliveries(entries)]
    assert sequences == sorted(sequences)
    assert positions == {sink: max(sequences) for sink in SINKS}


# --- Redis goes away -----------------------------------------------------------------------------


async def lifecycle(client: httpx.AsyncClient, experiment_id: str, steps: int = 4) -> str:
    """A run through create, start, (steps - 3) updates and finish: ``steps + 1`` events."""
    run = await create_run(client, experiment_id)
    path = f"/v1/runs/{run['id']}"
    await act(client, path, "start")
    for index in range(steps - 2):
        response = await client.patch(path, json={"tags": [f"t{index}"]})
        assert response.status_code == 200, response.text
    await act(client, path, "finish")
    return str(run["id"])


def assert_per_run_order(events: list[dict[str, Any]], run_ids: list[str], steps: int) -> None:
    per_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        per_run[event["subject"]].append(event)
    for run_id in run_ids:
        mine = per_run[f"runs/{run_id}"]
        assert [e["data"]["run"]["version"] for e in mine] == list(range(1, steps + 2)), run_id
        assert mine[0]["type"] == "run.created"
        assert mine[-1]["type"] == "run.finished"


@pytest.mark.process
async def test_redis_down_then_back_drains_the_backlog_in_order(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A private Redis with an append-only file, so a restart keeps what it had, like a
    # production Redis; the shared one is never stopped.
    server = RedisServer(tmp_path, appendonly=True).start()
    stream = "expsvc.events"
    try:
        async with relay_app(
            database_url, redis_url=server.url, redis_stream=stream, relay_batch_size=50
        ) as client:
            experiment = await create_experiment(client)
            before = await asyncio.gather(*(lifecycle(client, experiment["id"]) for _ in range(5)))
            await wait_for_ids(server.url, stream, set(await outbox_event_ids(database_url)))
            server.stop()
            during = await asyncio.gather(*(lifecycle(client, experiment["id"]) for _ in range(20)))
            failures = 0.0
            stop = time.monotonic() + 30
            while failures < 1:  # the relay noticed; events wait in the outbox meanwhile
                text = (await client.get("/metrics")).text
                failures = sum(
                    sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == "expsvc_outbox_publish_failures_total"
                )
                assert time.monotonic() < stop, "no publish failure while Redis was down"
                await asyncio.sleep(0.1)
            restarted_at = time.monotonic()
            server.start()
            entries = await wait_for_ids(
                server.url, stream, set(await outbox_event_ids(database_url))
            )
            drained_in = time.monotonic() - restarted_at
    finally:
        server.stop()
    ids = await outbox_event_ids(database_url)

    events = first_deliveries(entries)
    assert [e["id"] for e in events] == ids
    assert_per_run_order(events, before + during, steps=4)
    report(
        capsys,
        f"Redis restart: {len(ids)} events ({len(during) * 5} while down), "
        f"{int(failures)} failed attempts, backlog drained {drained_in:.1f}s after restart, "
        f"{duplicates(entries)} duplicates",
    )


# --- order per entity ----------------------------------------------------------------------------


async def test_per_run_order_holds_for_many_concurrent_runs(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    runs, steps = 40, 6
    async with relay_app(database_url, redis_url=redis_url, redis_stream=redis_stream) as client:
        experiments = [await create_experiment(client, name=f"e{i}") for i in range(4)]
        run_ids = await asyncio.gather(
            *(lifecycle(client, experiments[i % 4]["id"], steps) for i in range(runs))
        )
        entries = await wait_for_ids(
            redis_url, redis_stream, set(await outbox_event_ids(database_url))
        )
    events = first_deliveries(entries)
    assert len(events) == 4 * 2 + runs * (steps + 1)
    assert_per_run_order(events, run_ids, steps)
    sequences = [int(e["sequence"]) for e in events]
    assert sequences == sorted(sequences)
