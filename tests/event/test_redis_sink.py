"""The Redis Streams sink, seen from a consumer: fields, order, the documented consumer-group
recipe and approximate MAXLEN trimming."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from tests.event.support import (
    envelope,
    insert_events,
    redis_client,
    relay_app,
    wait_for_last,
    wait_for_stream,
)
from tests.helpers import act, create_experiment, create_run

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
DOC_STREAM = "expsvc.events"


async def test_http_changes_arrive_in_order_with_the_documented_fields(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    async with (
        relay_app(database_url, redis_url=redis_url, redis_stream=redis_stream) as client,
        redis_client(redis_url) as redis,
    ):
        experiment = await create_experiment(client, name="e")
        run = await create_run(client, experiment["id"])
        await act(client, f"/v1/runs/{run['id']}", "start")
        await act(client, f"/v1/runs/{run['id']}", "finish")
        entries = await wait_for_stream(redis, redis_stream, 5)
        feed = (await client.get("/v1/events")).json()["items"]

    assert [envelope(e)["type"] for e in entries] == [
        "experiment.created",
        "run.created",
        "experiment.started",
        "run.started",
        "run.finished",
    ]
    assert [envelope(e) for e in entries] == feed  # the same envelopes as the HTTP feed
    for _, fields in entries:
        assert set(fields) == {"id", "type", "subject", "event"}
        event = envelope(("", fields))
        assert fields["id"] == event["id"]
        assert fields["type"] == event["type"]
        assert fields["subject"] == event["subject"]
        assert event["specversion"] == "1.0"
        assert event["schemaversion"] == "1"
    assert entries[-1][1]["subject"] == f"runs/{run['id']}"
    sequences = [int(envelope(e)["sequence"]) for e in entries]
    assert sequences == sorted(sequences)


def documented_commands() -> dict[str, list[str]]:
    """The consumer-group recipe of docs/events.md: every line of its ``redis`` code blocks,
    by command name."""
    blocks = re.findall(r"```redis\n(.*?)```", EVENTS_DOC.read_text(), flags=re.DOTALL)
    commands: dict[str, list[str]] = {}
    for line in "\n".join(blocks).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            words = line.split()
            assert words[0] not in commands, f"docs/events.md: {words[0]} twice"
            commands[words[0]] = words
    assert set(commands) == {"XGROUP", "XREADGROUP", "XACK", "XAUTOCLAIM"}
    return commands


async def run_documented(
    redis: aioredis.Redis, command: list[str], stream: str, entry_ids: Sequence[str] = ()
) -> Any:
    """One documented command, on this test's stream, with real entry ids for placeholders."""
    words: list[str] = []
    for word in command:
        if word == DOC_STREAM:
            words.append(stream)
        elif word == "<entry-id>":
            words += entry_ids
        else:
            words.append(word)
    return await redis.execute_command(*words)


async def test_the_documented_consumer_group_recipe_works(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    recipe = documented_commands()
    async with redis_client(redis_url) as redis:
        async with relay_app(database_url, redis_url=redis_url, redis_stream=redis_stream) as c:
            for index in range(3):
                await create_experiment(c, name=f"e{index}")
            published = [entry_id for entry_id, _ in await wait_for_stream(redis, redis_stream, 3)]

        assert await run_documented(redis, recipe["XGROUP"], redis_stream) == b"OK"
        # worker-1 reads all three, handles and acknowledges the first, then crashes.
        [[_, read]] = await run_documented(redis, recipe["XREADGROUP"], redis_stream)
        assert [entry_id.decode() for entry_id, _ in read] == published
        assert [set(fields) for _, fields in read] == [{b"id", b"type", b"subject", b"event"}] * 3
        assert await run_documented(redis, recipe["XACK"], redis_stream, published[:1]) == 1

        # The recipe takes over entries idle for a minute: age worker-1's instead of sleeping.
        await redis.xclaim(
            redis_stream, "metrics-service", "worker-1", 0, published[1:], idle=61_000
        )
        claimed = (await run_documented(redis, recipe["XAUTOCLAIM"], redis_stream))[1]
        assert [entry_id.decode() for entry_id, _ in claimed] == published[1:]
        assert await run_documented(redis, recipe["XACK"], redis_stream, published[1:]) == 2
        summary = await redis.xpending(redis_stream, "metrics-service")
        assert summary["pending"] == 0


async def test_approximate_maxlen_trims_the_stream(
    database_url: str, redis_url: str, redis_stream: str
) -> None:
    await insert_events(database_url, 3000)
    async with (
        relay_app(
            database_url, redis_url=redis_url, redis_stream=redis_stream, redis_stream_maxlen=1000
        ),
        redis_client(redis_url) as redis,
    ):
        # Wait for the last event rather than a length: trimming keeps the length down.
        await wait_for_last(redis, redis_stream, lambda event: event["data"]["n"] == 2999)
        length = await redis.xlen(redis_stream)
    # MAXLEN ~ trims whole macro nodes (100 entries by default): never below the limit.
    assert 1000 <= length < 1500
