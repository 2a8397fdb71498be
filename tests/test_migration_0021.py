"""Migration 0021: audit_log becomes partitioned by month with the old table attached as a
partition (no copy) while the previous release appends; it stays append-only for the runtime
role and the owner alike; the downgrade copies back with its triggers and grants."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import asyncpg
import pytest

from expsvc.migrate import downgrade, upgrade
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE, role_url, runtime_url
from tests.partition.support import model_differences, partitions, rows_by_partition, sql

# The previous release's audit row of one change, as the runtime role writes it.
_OLD_RELEASE_APPEND = (
    "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes)"
    " VALUES ('writer', 'user', 'update', 'run', $1, '{}') RETURNING id"
)
_ENTITY = "0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8093"


def _triggers(url: str, table: str) -> dict[str, str]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT tgname, tgenabled::text FROM pg_trigger WHERE tgrelid = $1::regclass"
            " AND NOT tgisinternal",
            table,
        )
    )
    return {row["tgname"]: row["tgenabled"] for row in rows}


def _runtime_may(url: str, table: str) -> set[str]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'])"
            " AS p WHERE has_table_privilege($1, $2::regclass, p)",
            RUNTIME_ROLE,
            table,
        )
    )
    return {row["p"] for row in rows}


async def _refused_everywhere(url: str, tables: list[str]) -> None:
    """Neither the runtime role nor the owner rewrites a row, through the parent or a
    partition."""
    for role in (RUNTIME_ROLE, OWNER_ROLE):
        for table in tables:
            for statement in ("DELETE FROM {}", "UPDATE {} SET actor = 'x'", "TRUNCATE {}"):
                with pytest.raises(asyncpg.PostgresError, match=r"append-only|permission denied"):
                    await sql(role_url(url, role), statement.format(table))


def test_at_head_audit_log_is_partitioned_and_append_only(database_url: str) -> None:
    assert model_differences(database_url, ("audit_log",)) == []
    names = asyncio.run(partitions(database_url, "audit_log"))
    assert "audit_log_legacy" in names
    assert len(names) >= 3
    for upper in names.values():  # a row in every partition: its triggers have one to guard
        asyncio.run(
            sql(
                runtime_url(database_url),
                "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes,"
                " occurred_at) VALUES ('t', 'user', 'update', 'run', $1, '{}', $2)",
                _ENTITY,
                upper - timedelta(days=1),
            )
        )
    assert set(asyncio.run(rows_by_partition(database_url, "audit_log"))) == set(names)
    asyncio.run(_refused_everywhere(database_url, ["audit_log", *names]))
    both = {"audit_log_append_only": "A", "audit_log_no_truncate": "A"}
    assert _triggers(database_url, "audit_log") == both
    for name in names:
        assert _triggers(database_url, name) == both, name
        assert _runtime_may(database_url, name) == set(), name
    assert _runtime_may(database_url, "audit_log") == {"SELECT", "INSERT"}


def test_the_previous_release_appends_throughout_the_conversion(database_url: str) -> None:
    owner = role_url(database_url, OWNER_ROLE)
    downgrade(owner, "0020")
    (before,) = asyncio.run(
        sql(database_url, "SELECT relfilenode FROM pg_class WHERE relname = 'audit_log'")
    )
    written, during, slowest, errors = asyncio.run(_append_while_upgrading(database_url))
    print(f"[0021] {during} appends during the conversion, slowest {slowest * 1000:.0f} ms")
    assert errors == []
    assert during >= 10
    assert slowest < 2.0, f"an append waited {slowest:.2f}s"
    (after,) = asyncio.run(
        sql(database_url, "SELECT relfilenode FROM pg_class WHERE relname = 'audit_log_legacy'")
    )
    assert after["relfilenode"] == before["relfilenode"]  # the old table itself, not a copy
    (counted,) = asyncio.run(sql(database_url, "SELECT count(DISTINCT id) FROM audit_log"))
    assert counted["count"] == written
    assert model_differences(database_url, ("audit_log",)) == []


async def _append_while_upgrading(url: str) -> tuple[int, int, float, list[str]]:
    connection = await asyncpg.connect(runtime_url(url))
    written, during, slowest, errors = 0, 0, 0.0, []
    upgrading = asyncio.create_task(asyncio.to_thread(upgrade, role_url(url, OWNER_ROLE)))
    try:
        while True:
            done = upgrading.done()
            started = time.monotonic()
            try:
                await connection.fetch(_OLD_RELEASE_APPEND, _ENTITY)
                written += 1
                during += not done
            except asyncpg.PostgresError as error:
                errors.append(repr(error))
            slowest = max(slowest, time.monotonic() - started)
            if done and written >= 50:
                break
            await asyncio.sleep(0.002)
        await upgrading
    finally:
        await connection.close()
    return written, during, slowest, errors


def test_the_downgrade_copies_back_with_triggers_and_grants(database_url: str) -> None:
    owner = role_url(database_url, OWNER_ROLE)
    asyncio.run(sql(runtime_url(database_url), _OLD_RELEASE_APPEND, _ENTITY))
    downgrade(owner, "0020")
    (kind,) = asyncio.run(
        sql(database_url, "SELECT relkind::text FROM pg_class WHERE relname = 'audit_log'")
    )
    assert kind["relkind"] == "r"
    assert _triggers(database_url, "audit_log") == {
        "audit_log_append_only": "A",
        "audit_log_no_truncate": "A",
    }
    assert _runtime_may(database_url, "audit_log") == {"SELECT", "INSERT"}
    asyncio.run(sql(runtime_url(database_url), _OLD_RELEASE_APPEND, _ENTITY))
    asyncio.run(_refused_everywhere(database_url, ["audit_log"]))
    upgrade(owner)
    assert model_differences(database_url, ("audit_log",)) == []
    (counted,) = asyncio.run(sql(database_url, "SELECT count(*) FROM audit_log"))
    assert counted["count"] == 2
