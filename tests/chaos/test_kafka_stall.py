"""A Kafka broker that stalls (SIGSTOP, as on a loaded machine) longer than the publish timeout,
then resumes: the sink recovers within a couple of batches.

Why the Kafka sink test passed only in a process of its own (the mechanism, reproduced here;
the in-suite failure itself was not re-run): under the full suite's load a batch's records time
out while the broker stalls; librdkafka then bumps the idempotent producer's epoch and the
broker (Tansu) answers every later record with PRODUCER_FENCED, so the previous sink failed
every batch until the process ended (this test fails on it: "the sink did not recover"). The
sink now replaces a fenced (or fatal) producer. The fence follows only some stalls (0 to 2 of 4
in runs here), so the test stalls the broker several times and prints how many ended in one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from expsvc.event.sinks.kafka import KafkaPublishError, KafkaSink
from tests.chaos.conftest import report
from tests.services import KafkaBroker

pytestmark = pytest.mark.chaos

STALLS = 4
TIMEOUT = 1.0


def event() -> dict[str, str]:
    return {"id": str(uuid.uuid4()), "subject": f"runs/{uuid.uuid4()}", "type": "run.created"}


async def publish_one(sink: KafkaSink) -> str | None:
    """None when the broker acknowledged one event, else the error."""
    try:
        await sink.publish([event()])
    except KafkaPublishError as error:
        return str(error)
    return None


async def test_the_sink_recovers_after_the_broker_stalls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = KafkaBroker(tmp_path).start()
    assert broker.process is not None
    sink = KafkaSink(broker.bootstrap, "stall", flush_timeout=TIMEOUT)
    fenced = 0
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic("stall", 1, 1)]).values():
            future.result(timeout=30)
        await sink.publish([event()])
        for _ in range(STALLS):
            os.kill(broker.process.pid, signal.SIGSTOP)
            try:
                with pytest.raises(KafkaPublishError):
                    await sink.publish([event() for _ in range(5)])
            finally:
                os.kill(broker.process.pid, signal.SIGCONT)
            for attempt in range(3):  # the relay retries a failed batch
                failure = await publish_one(sink)
                if failure is None:
                    break
                fenced += "PRODUCER_FENCED" in failure or "Fatal" in failure
                assert attempt < 2, f"the sink did not recover: {failure}"
                await asyncio.sleep(0.2)
    finally:
        await sink.close()
        broker.stop()
    report(capsys, "kafka broker stalls", stalls=STALLS, fenced_after=fenced, recovered=STALLS)
