"""Redis Streams sink: one ``XADD`` per event, a batch at a time, approximate MAXLEN.

Entry fields: ``id`` (CloudEvents id, the dedupe key), ``type``, ``subject`` and ``event`` (the
whole envelope as JSON). Consumers use a consumer group (XREADGROUP / XACK / XAUTOCLAIM); see
docs/events.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as redis

# One server-side call per batch: XADD for each event, atomically (a script runs alone, as
# MULTI/EXEC would), without the client-side cost of packing and parsing one command per event
# (that was most of the relay's CPU). ARGV: maxlen, then id, type, subject, event per event.
_XADD_BATCH = """
for i = 2, #ARGV, 4 do
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
               'id', ARGV[i], 'type', ARGV[i + 1], 'subject', ARGV[i + 2], 'event', ARGV[i + 3])
end
return (#ARGV - 1) / 4
"""


class RedisStreamSink:
    name = "redis"

    def __init__(self, url: str, stream: str, maxlen: int) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.stream = stream
        self.maxlen = maxlen
        self._xadd_batch = self.client.register_script(_XADD_BATCH)

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        args: list[str | bytes | int] = [self.maxlen]
        for event in events:
            args += [event["id"], event["type"], event["subject"], orjson.dumps(event)]
        await self._xadd_batch(keys=[self.stream], args=args)

    async def close(self) -> None:
        await self.client.aclose()
