"""Migration 0015: the audit triggers ENABLE ALWAYS, and the runtime role's privileges on every
table, present and future (docs/adr/0019)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from alembic import command

from expsvc.migrate import alembic_config, downgrade, upgrade
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE, role_url

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
READ_WRITE = {"SELECT", "INSERT", "UPDATE", "DELETE"}
# What the service may do with each table; every other table is READ_WRITE.
EXPECTED = {
    "audit_log": {"SELECT", "INSERT"},
    "alembic_version": {"SELECT"},
    "schema_releases": {"SELECT"},
}


async def _fetch(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def fetch(url: str, statement: str, *args: object) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(url, statement, *args))


def trigger_modes(url: str) -> dict[str, str]:
    records = fetch(
        url,
        "SELECT tgname, tgenabled::text FROM pg_trigger "
        "WHERE tgrelid = 'audit_log'::regclass AND NOT tgisinternal",
    )
    return {record["tgname"]: record["tgenabled"] for record in records}


def runtime_privileges(url: str) -> dict[str, set[str]]:
    """Per table of the schema, the privileges the runtime role holds."""
    records = fetch(
        url,
        "SELECT c.relname, p.privilege FROM pg_class c, unnest($2::text[]) AS p(privilege) "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') "
        "AND has_table_privilege($1, c.oid, p.privilege)",
        RUNTIME_ROLE,
        list(PRIVILEGES),
    )
    tables = fetch(
        url,
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
        "AND relkind IN ('r', 'p')",
    )
    held: dict[str, set[str]] = {record["relname"]: set() for record in tables}
    for record in records:
        held[record["relname"]].add(record["privilege"])
    return held


def test_at_head_the_runtime_role_may_do_what_the_service_does_and_no_more(
    database_url: str,
) -> None:
    assert trigger_modes(database_url) == {
        "audit_log_append_only": "A",  # ENABLE ALWAYS
        "audit_log_no_truncate": "A",
    }
    held = runtime_privileges(database_url)
    assert {"experiments", "runs", "webhook_endpoints", *EXPECTED} <= held.keys()
    for table, privileges in held.items():
        # audit_log's partitions (0021) hold none: the service goes through the parent.
        expected = set() if table.startswith("audit_log_") else READ_WRITE
        assert privileges == EXPECTED.get(table, expected), table


def test_a_table_the_owner_creates_later_gets_the_grants(database_url: str) -> None:
    owner = role_url(database_url, OWNER_ROLE)
    fetch(owner, "CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)")
    assert runtime_privileges(database_url)["later"] == READ_WRITE
    runtime = role_url(database_url, RUNTIME_ROLE)
    assert fetch(runtime, "INSERT INTO later DEFAULT VALUES RETURNING id")[0]["id"] == 1


def test_downgrade_keeps_the_service_running_and_the_upgrade_is_idempotent(
    database_url: str,
) -> None:
    owner = role_url(database_url, OWNER_ROLE)
    downgrade(owner, "0014")
    assert set(trigger_modes(database_url).values()) == {"O"}
    assert fetch(database_url, "SELECT defaclrole FROM pg_default_acl") == []
    # The grants on existing tables stay: a service running as the runtime role keeps working
    # on the older schema, still without the right to rewrite the audit log.
    for table, privileges in runtime_privileges(database_url).items():
        assert privileges == EXPECTED.get(table, READ_WRITE), table

    upgrade(owner)
    assert set(trigger_modes(database_url).values()) == {"A"}
    # Run 0015 once more on a database that has it: the same result, no error.
    command.stamp(alembic_config(owner), "0014")
    upgrade(owner)
    held = runtime_privileges(database_url)
    for table, privileges in held.items():
        # audit_log's partitions (0021) hold none: the service goes through the parent.
        expected = set() if table.startswith("audit_log_") else READ_WRITE
        assert privileges == EXPECTED.get(table, expected), table


def test_without_the_runtime_role_only_the_triggers_change(database_url: str) -> None:
    """One role for everything (no runtime role exists): the upgrade still succeeds."""
    owner = role_url(database_url, OWNER_ROLE)
    downgrade(owner, "base")
    upgrade(owner, "0014")
    upgrade(owner, runtime_role="expsvc_no_such_role")
    assert set(trigger_modes(database_url).values()) == {"A"}
    # Only alembic_version, which no downgrade drops, and run_tag_sets, which 0027's downgrade
    # keeps (ADR 0036), keep what 0015 once granted.
    held = {table: p for table, p in runtime_privileges(database_url).items() if p}
    assert held == {
        "alembic_version": {"SELECT"},
        "run_tag_sets": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    }
    assert fetch(database_url, "SELECT defaclrole FROM pg_default_acl") == []
    # ... nor does the migrating role lose anything when it names itself.
    downgrade(owner, "0014", runtime_role="expsvc_no_such_role")
    upgrade(owner, runtime_role=OWNER_ROLE)
    owned = fetch(
        database_url,
        "SELECT has_table_privilege($1, 'audit_log', 'UPDATE, DELETE') AS rewrite",
        OWNER_ROLE,
    )
    assert owned[0]["rewrite"] is True


def test_the_offline_sql_sets_a_lock_timeout_and_enable_always(capsys: Any) -> None:
    command.upgrade(alembic_config("postgresql://nowhere/db"), "0014:0015", sql=True)
    sql = capsys.readouterr().out
    assert sql.index("SET LOCAL lock_timeout = '5s'") < sql.index("ENABLE ALWAYS TRIGGER")
    assert "ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_append_only" in sql
    assert "runtime name := 'expsvc_runtime'" in sql
