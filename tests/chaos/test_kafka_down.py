"""Kafka down and back: events written while the broker is away wait in the outbox and drain,
in log order, once it is back; the service keeps taking writes throughout.

The broker (Tansu, memory storage) is a private one, stopped and started on the same port after
the sink's producer has published to it (so the producer must reconnect, and its idempotence
state meets a broker that has forgotten it). How
it can fail: a sink that reports a batch published without the broker's acknowledgement moves
the cursor past events the topic never got (missing); a producer that never recovers from the
broker's restart leaves the backlog for ever (the deadline).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.chaos.conftest import report
from tests.event.support import relay_app
from tests.event.test_kafka_sink import consume, consumer, wait_for_cursor
from tests.helpers import create_experiment
from tests.services import KafkaBroker

pytestmark = pytest.mark.chaos

EVENTS = 30


def create_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, 1, 1)]).values():
        future.result(timeout=30)


async def test_kafka_down_then_back_drains_the_backlog_in_order(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = KafkaBroker(tmp_path)
    topic = f"expsvc.chaos.{uuid.uuid4().hex[:8]}"
    settings = {
        "kafka_bootstrap": broker.bootstrap,
        "kafka_topic": topic,
        "kafka_publish_timeout_seconds": 2.0,  # the batches sent while it is down time out
    }
    try:
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(create_topic, broker.bootstrap, topic)
        async with relay_app(database_url, **settings) as client:
            await create_experiment(client, name="before")  # the producer is connected
            await wait_for_cursor(database_url, "kafka", 1)
            await asyncio.to_thread(broker.stop)
            for index in range(EVENTS):  # the broker is down: writes still succeed
                await create_experiment(client, name=f"while-down-{index}")
            connection = await asyncpg.connect(database_url)
            try:
                query = "SELECT last_seq, last_error FROM event_sink_cursors WHERE sink = 'kafka'"
                until = time.monotonic() + 30
                while (row := await connection.fetchrow(query)) is None or not row["last_error"]:
                    assert time.monotonic() < until, "the relay never tried the absent broker"
                    await asyncio.sleep(0.1)
                assert row["last_seq"] == 1  # nothing more reported published
                last = int(await connection.fetchval("SELECT max(seq) FROM outbox_events"))
            finally:
                await connection.close()
            await asyncio.to_thread(broker.start)
            back = time.monotonic()
            await asyncio.to_thread(create_topic, broker.bootstrap, topic)
            await wait_for_cursor(database_url, "kafka", last, deadline=60)
            drained = time.monotonic() - back

        kafka = consumer(broker.bootstrap, f"chaos-{uuid.uuid4().hex[:8]}", topic)
        try:
            messages = await asyncio.to_thread(consume, kafka, lambda m: len(m) >= last, 30)
        finally:
            await asyncio.to_thread(kafka.close)
    finally:
        broker.stop()

    sequences = [int(orjson.loads(m.value())["sequence"]) for m in messages]
    # The memory-storage broker lost sequence 1 with its restart; ours are the rest.
    firsts = list(dict.fromkeys(sequences))
    report(
        capsys,
        "kafka down and back",
        events=last - 1,
        records=len(messages),
        duplicates=len(sequences) - len(firsts),
        lost=last - 1 - len(firsts),
        seconds_to_drain=f"{drained:.2f}",
    )
    assert firsts == list(range(2, last + 1))  # every event, in log order
