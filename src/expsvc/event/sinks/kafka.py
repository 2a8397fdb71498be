"""Kafka sink (confluent-kafka): idempotent producer, ``acks=all``, key = entity id.

CloudEvents Kafka protocol binding, structured mode: the value is the JSON envelope and the
``content-type`` header is ``application/cloudevents+json``. Keying by entity id keeps each
run's events in one partition, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from expsvc.event.envelope import CLOUDEVENTS_MEDIA_TYPE


class KafkaPublishError(RuntimeError):
    pass


class KafkaSink:
    name = "kafka"

    def __init__(self, bootstrap: str, topic: str, flush_timeout: float = 15.0) -> None:
        self.topic = topic
        self.flush_timeout = flush_timeout
        self.config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": int(flush_timeout * 1000),
            "error_cb": self._on_error,
        }
        self.fatal = False  # librdkafka reported its fatal state for this producer
        self.producer = Producer(self.config)

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        """Return only when the broker acknowledged every record of ``events``; else raise.

        An idempotent producer whose records timed out while the broker was away or stalled, or
        that meets a broker which forgot its producer id (a restart), may enter librdkafka's
        fatal state or be fenced by the broker: it then fails every record for good. Such a
        producer is replaced by a new one (a new producer id) and the batch fails, so the relay
        sends it again: at least once.
        """
        try:
            await self._publish(events)
        except KafkaException as error:
            self.fatal = self.fatal or _fatal(error.args[0] if error.args else None)
            await self._replace_if_fatal()
            raise KafkaPublishError(repr(error)) from error
        except KafkaPublishError:
            await self._replace_if_fatal()
            raise

    def _on_error(self, error: KafkaError) -> None:
        if _fatal(error):
            self.fatal = True

    async def _replace_if_fatal(self) -> None:
        if not self.fatal:
            return
        old, self.producer, self.fatal = self.producer, Producer(self.config), False
        close = getattr(old, "close", None)
        if close is not None:
            await asyncio.to_thread(close)

    async def _publish(self, events: Sequence[dict[str, Any]]) -> None:
        acknowledged = 0
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _: Message) -> None:
            nonlocal acknowledged
            if error is None:
                acknowledged += 1
            else:
                errors.append(error)
                self.fatal = self.fatal or _fatal(error)

        for event in events:
            self.producer.produce(
                self.topic,
                key=event["subject"].rsplit("/", 1)[-1].encode(),
                value=orjson.dumps(event),
                headers=_headers(event),
                on_delivery=on_delivery,
            )
        # flush() blocks while librdkafka delivers; keep the event loop free meanwhile.
        remaining = await asyncio.to_thread(self.producer.flush, self.flush_timeout)
        # Success is this batch's own count of successful delivery reports, not flush()'s
        # return alone (that is the whole producer's queue, other batches' records included).
        if acknowledged != len(events):
            raise KafkaPublishError(
                f"{len(events) - acknowledged} of {len(events)} records not acknowledged"
                f" ({len(errors)} failed, {remaining} still queued): {errors[:1] or 'timeout'}"
            )

    async def close(self) -> None:
        await asyncio.to_thread(self.producer.flush, 5.0)
        # Stops librdkafka's threads now rather than whenever the object is collected (they
        # would go on reconnecting meanwhile); close() exists from confluent-kafka 2.13.
        close = getattr(self.producer, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


def _headers(event: dict[str, Any]) -> list[tuple[str, str | bytes | None]]:
    """The content type, and the W3C ``traceparent`` a consumer continues the trace from."""
    headers: list[tuple[str, str | bytes | None]] = [
        ("content-type", CLOUDEVENTS_MEDIA_TYPE.encode())
    ]
    if event.get("traceparent"):
        headers.append(("traceparent", event["traceparent"].encode()))
    return headers


# Errors after which this producer (its idempotent producer id and epoch) is refused for good:
# librdkafka's fatal state, or a broker that fenced or forgot it. A new producer (a new id) is
# not refused. Seen with the Tansu broker: records timed out during a stall of a few seconds,
# librdkafka bumped the epoch, and every later record came back PRODUCER_FENCED.
_PRODUCER_REFUSED = frozenset(
    {
        KafkaError._FATAL,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.INVALID_PRODUCER_ID_MAPPING,
    }
)


def _fatal(error: object) -> bool:
    return isinstance(error, KafkaError) and (error.fatal() or error.code() in _PRODUCER_REFUSED)
