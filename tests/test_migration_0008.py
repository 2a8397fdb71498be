"""Migration 0008: commits with events no longer NOTIFY (the trigger goes); it reverts."""

from __future__ import annotations

import asyncio

import asyncpg

from expsvc.migrate import downgrade, upgrade


async def _notifying_objects(url: str) -> tuple[bool, bool]:
    """(the outbox's NOTIFY trigger exists, its function exists)."""
    connection = await asyncpg.connect(url)
    try:
        trigger = await connection.fetchval(
            "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'outbox_events_notify'"
            " AND tgrelid = 'outbox_events'::regclass)"
        )
        function = await connection.fetchval(
            "SELECT to_regprocedure('expsvc_outbox_notify()') IS NOT NULL"
        )
        return bool(trigger), bool(function)
    finally:
        await connection.close()


async def _notifications_of_an_insert(url: str) -> list[str]:
    """The channels notified by committing one outbox row."""
    listener, writer = await asyncpg.connect(url), await asyncpg.connect(url)
    heard: list[str] = []
    try:
        await listener.add_listener("expsvc_outbox", lambda *args: heard.append(args[2]))
        await writer.execute(
            "INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)"
            " VALUES (gen_random_uuid(), 'run.updated', 'run', gen_random_uuid(), now(), '{}')"
        )
        await asyncio.sleep(0.5)  # a notification is delivered at commit; give it time to land
        return heard
    finally:
        await listener.close()
        await writer.close()


def test_commits_do_not_notify_at_head_and_did_before(database_url: str) -> None:
    assert asyncio.run(_notifying_objects(database_url)) == (False, False)
    assert asyncio.run(_notifications_of_an_insert(database_url)) == []

    downgrade(database_url, "0007")
    assert asyncio.run(_notifying_objects(database_url)) == (True, True)
    assert asyncio.run(_notifications_of_an_insert(database_url)) == ["expsvc_outbox"]

    upgrade(database_url)
    assert asyncio.run(_notifying_objects(database_url)) == (False, False)
