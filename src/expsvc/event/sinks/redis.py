"""Redis Streams sink: one ``XADD`` per event, pipelined per batch, approximate MAXLEN.

Entry fields: ``id`` (CloudEvents id, the dedupe key), ``type``, ``subject`` and ``event`` (the
whole envelope as JSON). Consumers use a consumer group (XREADGROUP / XACK / XAUTOCLAIM); see
docs/events.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as redis


class RedisStreamSink:
    name = "redis"

    def __init__(self, url: str, stream: str, maxlen: int) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.stream = stream
        self.maxlen = maxlen

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        # MULTI/EXEC: the batch lands whole or not at all, so a retry does not interleave.
        async with self.client.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(
                    self.stream,
                    {
                        "id": event["id"],
                        "type": event["type"],
                        "subject": event["subject"],
                        "event": orjson.dumps(event),
                    },
                    maxlen=self.maxlen,
                    approximate=True,
                )
            await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()
