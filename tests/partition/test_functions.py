"""The partition functions of migration 0020 as the runtime role calls them: it cannot create or
drop a table itself, the functions can, for our partitioned tables and month bounds only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from expsvc.partition.service import month_start
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE, role_url, runtime_url
from tests.partition.support import partitions, sql


async def test_the_runtime_role_cannot_create_or_drop_tables_itself(database_url: str) -> None:
    runtime = runtime_url(database_url)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await sql(runtime, "CREATE TABLE status_history_p299901 (LIKE status_history)")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await sql(runtime, "DROP TABLE status_history_legacy")


async def test_the_runtime_role_creates_and_drops_a_month_through_the_functions(
    database_url: str,
) -> None:
    runtime = runtime_url(database_url)
    month = month_start(max((await partitions(database_url, "outbox_events")).values()))
    (row,) = await sql(runtime, "SELECT expsvc_create_partition('outbox_events', $1)", month)
    name = f"outbox_events_p{month:%Y%m}"
    assert row[0] == name
    assert (await partitions(database_url, "outbox_events"))[name] == month_start(month, 1)
    # Owned by the tables' owner; the runtime role reads and writes it as the parent.
    (owner,) = await sql(
        database_url, "SELECT relowner::regrole::text FROM pg_class WHERE relname = $1", name
    )
    (parent_owner,) = await sql(
        database_url, "SELECT relowner::regrole::text FROM pg_class WHERE relname = 'outbox_events'"
    )
    assert owner[0] == parent_owner[0]
    await sql(runtime, f"SELECT count(*) FROM {name}")  # noqa: S608 (a test's own name)

    await sql(runtime, "SELECT expsvc_drop_partition($1::regclass)", name)
    assert name not in await partitions(database_url, "outbox_events")


@pytest.mark.parametrize(
    ("statement", "argument", "error"),
    [
        # Not one of our partitioned tables.
        ("SELECT expsvc_create_partition('runs', $1)", "month", "not a partitioned history"),
        # Not a month start (UTC).
        ("SELECT expsvc_create_partition('status_history', $1)", "mid-month", "not a month start"),
        ("SELECT expsvc_create_partition('status_history', $1)", "offset", "not a month start"),
        # Not a partition of ours.
        ("SELECT expsvc_drop_partition('runs')", None, "not a partition of a history"),
        ("SELECT expsvc_drop_partition('status_history')", None, "not a partition of a history"),
        ("SELECT expsvc_drop_partition('audit_log')", None, "not a partition of a history"),
        # Audit rows are the runtime role's to append, not to remove.
        ("SELECT expsvc_drop_partition('audit_log_legacy')", None, "not a partition of a hist"),
    ],
)
async def test_the_functions_refuse_other_tables_and_bounds(
    database_url: str, statement: str, argument: str | None, error: str
) -> None:
    month = month_start(datetime.now(UTC), 30)
    values = {
        "month": month,
        "mid-month": month + timedelta(days=3),
        "offset": month - timedelta(hours=2),  # a month start at UTC+2, not in UTC
    }
    args = [] if argument is None else [values[argument]]
    with pytest.raises(asyncpg.PostgresError, match=error):
        await sql(runtime_url(database_url), statement, *args)


async def test_a_partition_of_another_range_is_not_dropped(database_url: str) -> None:
    # A partition of two months, made by the owner: not a month, refused.
    owner = role_url(database_url, OWNER_ROLE)
    high = max((await partitions(database_url, "status_history")).values())
    await sql(
        owner,
        "CREATE TABLE status_history_wide PARTITION OF status_history"
        f" FOR VALUES FROM ('{high.isoformat()}') TO ('{month_start(high, 2).isoformat()}')",
    )
    with pytest.raises(asyncpg.PostgresError, match="not a month partition"):
        await sql(runtime_url(database_url), "SELECT expsvc_drop_partition('status_history_wide')")


async def test_only_the_runtime_role_may_execute_them(database_url: str) -> None:
    rows = await sql(
        database_url,
        "SELECT has_function_privilege('public', 'expsvc_drop_partition(regclass)', 'EXECUTE')"
        " AS public, has_function_privilege($1, 'expsvc_drop_partition(regclass)', 'EXECUTE')"
        " AS runtime",
        RUNTIME_ROLE,
    )
    assert (rows[0]["public"], rows[0]["runtime"]) == (False, True)


async def test_an_audit_month_is_append_only_like_the_parent(database_url: str) -> None:
    runtime = runtime_url(database_url)
    month = month_start(max((await partitions(database_url, "audit_log")).values()))
    (row,) = await sql(runtime, "SELECT expsvc_create_partition('audit_log', $1)", month)
    name = row[0]
    with pytest.raises(asyncpg.PostgresError, match="not a partition of a history"):
        await sql(runtime, "SELECT expsvc_drop_partition($1::regclass)", name)
    # No privilege on the month itself: the service goes through the parent.
    held = await sql(
        database_url,
        "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p"
        " WHERE has_table_privilege($1, $2::regclass, p)",
        RUNTIME_ROLE,
        name,
    )
    assert held == []
    triggers = await sql(
        database_url,
        "SELECT tgname, tgenabled::text FROM pg_trigger WHERE tgrelid = $1::regclass"
        " AND NOT tgisinternal",
        name,
    )
    assert {t["tgname"]: t["tgenabled"] for t in triggers} == {
        "audit_log_append_only": "A",
        "audit_log_no_truncate": "A",
    }
    # Even the owner cannot rewrite the month without disabling its triggers first.
    owner = role_url(database_url, OWNER_ROLE)
    await sql(
        runtime,
        "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes,"
        " occurred_at) VALUES ('t', 'user', 'update', 'run', gen_random_uuid(), '{}', $1)",
        month,
    )
    for statement in ("DELETE FROM {}", "UPDATE {} SET actor = 'x'", "TRUNCATE {}"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await sql(owner, statement.format(name))
