"""Building the relay from settings and running it beside the API or in `expsvc worker`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from expsvc.db import Database
from expsvc.event.metrics import RelayMetrics
from expsvc.event.relay import OutboxRelay
from expsvc.event.sinks import AnySink
from expsvc.event.versions import EVENT_VERSIONS, EventVersions
from expsvc.settings import Settings


def build_sinks(settings: Settings) -> list[AnySink]:
    from expsvc.webhook.audience import WebhookAdmins
    from expsvc.webhook.sink import WebhookSink

    # Always on: with no webhook endpoints it writes nothing.
    sinks: list[AnySink] = [
        WebhookSink(settings.webhook_max_attempts, WebhookAdmins.from_settings(settings))
    ]
    if settings.redis_url:
        from expsvc.event.sinks.redis import RedisStreamSink

        sinks.append(
            RedisStreamSink(settings.redis_url, settings.redis_stream, settings.redis_stream_maxlen)
        )
    if settings.kafka_bootstrap:
        from expsvc.event.sinks.kafka import KafkaSink

        sinks.append(
            KafkaSink(
                settings.kafka_bootstrap,
                settings.kafka_topic,
                flush_timeout=settings.kafka_publish_timeout_seconds,
            )
        )
    return sinks


def build_relay(
    settings: Settings,
    database: Database,
    registry: CollectorRegistry,
    versions: EventVersions = EVENT_VERSIONS,
) -> OutboxRelay:
    return OutboxRelay(
        database,
        build_sinks(settings),
        RelayMetrics(registry),
        source=settings.event_source,
        batch_size=settings.relay_batch_size,
        retention_seconds=settings.event_retention_hours * 3600,
        versions=versions,
    )
