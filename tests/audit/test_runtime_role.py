"""The service's runtime role cannot rewrite the audit log, whatever way in it tries, and still
writes and reads everything it needs (docs/adr/0019)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from expsvc.audit.protection import rewrite_warning
from expsvc.audit.repository import rewrite_powers
from expsvc.db import create_engine
from tests.conftest import OWNER_ROLE, RUNTIME_ROLE, make_settings, role_url, runtime_url
from tests.helpers import act, create_experiment, create_run

# Every way the runtime role could try to change or remove audit rows. Each must be refused by
# the database (SQLSTATE 42501) and leave the rows as they were.
WAYS_IN = [
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    # An upsert needs UPDATE as well (the key is (id, occurred_at) since 0021).
    "INSERT INTO audit_log (id, occurred_at, actor, source, action, entity_type, entity_id, "
    "changes) SELECT id, occurred_at, 'mallory', source, action, entity_type, entity_id, "
    "changes FROM audit_log ON CONFLICT (id, occurred_at) DO UPDATE SET actor = excluded.actor",
    # Through a partition (0021): no privilege on any, not the owner, and no function drops one.
    "UPDATE audit_log_legacy SET actor = 'mallory'",
    "DELETE FROM audit_log_legacy",
    "TRUNCATE audit_log_legacy",
    "ALTER TABLE audit_log DETACH PARTITION audit_log_legacy",
    "SELECT expsvc_drop_partition('audit_log_legacy')",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_truncate",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "CREATE OR REPLACE FUNCTION expsvc_audit_log_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "DROP TABLE audit_log",
    "ALTER TABLE audit_log RENAME TO audit_log_old",
    "SET session_replication_role = replica",
]


@pytest.fixture
async def as_runtime(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(runtime_url(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def rows(connection: asyncpg.Connection) -> list[tuple[object, ...]]:
    records = await connection.fetch(
        "SELECT id, actor, action, entity_id FROM audit_log ORDER BY id"
    )
    return [tuple(record) for record in records]


@pytest.mark.parametrize("statement", WAYS_IN)
async def test_the_runtime_role_cannot_rewrite_the_audit_log(
    client: httpx.AsyncClient, as_runtime: asyncpg.Connection, statement: str
) -> None:
    experiment = await create_experiment(client)
    await act(client, f"/v1/experiments/{experiment['id']}", "start")
    before = await rows(as_runtime)
    assert len(before) == 2

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_runtime.execute(statement)

    assert await rows(as_runtime) == before
    assert await as_runtime.fetchval("SHOW session_replication_role") == "origin"


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"]
)
async def test_replica_mode_then_a_rewrite_is_refused_as_well(
    client: httpx.AsyncClient, as_runtime: asyncpg.Connection, statement: str
) -> None:
    await create_experiment(client)
    before = await rows(as_runtime)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="set parameter"):
        await as_runtime.execute("SET session_replication_role = replica")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_runtime.execute(statement)
    assert await rows(as_runtime) == before


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log", "TRUNCATE audit_log"],
)
async def test_the_triggers_fire_even_in_replica_mode(
    client: httpx.AsyncClient, database_url: str, statement: str
) -> None:
    """ENABLE ALWAYS: replica mode skips ordinary triggers; a superuser (the only kind of role
    allowed to set it) still cannot rewrite the log without disabling them first."""
    await create_experiment(client)
    superuser = await asyncpg.connect(database_url)
    try:
        before = await rows(superuser)
        await superuser.execute("SET session_replication_role = replica")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await superuser.execute(statement)
        assert await rows(superuser) == before
    finally:
        await superuser.close()


async def test_the_service_runs_as_the_runtime_role_and_still_audits_everything(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    path = f"/v1/experiments/{experiment['id']}"
    await act(client, path, "start")
    run = await create_run(client, experiment["id"])
    await act(client, f"/v1/runs/{run['id']}", "start")

    audit = await client.get("/v1/audit", params={"entity_id": experiment["id"]})
    assert [row["action"] for row in audit.json()["items"]] == ["start", "create"]
    audit = await client.get("/v1/audit", params={"entity_id": run["id"]})
    assert [row["action"] for row in audit.json()["items"]] == ["start", "create"]
    superuser = await asyncpg.connect(database_url)
    try:
        roles = await superuser.fetch(
            "SELECT DISTINCT usename FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'expsvc'"
        )
        assert [record["usename"] for record in roles] == [RUNTIME_ROLE]
        super_or_owner = await superuser.fetchval(
            "SELECT rolsuper OR pg_has_role($1, relowner, 'USAGE') FROM pg_roles, pg_class "
            "WHERE rolname = $1 AND pg_class.oid = 'audit_log'::regclass",
            RUNTIME_ROLE,
        )
        assert super_or_owner is False
    finally:
        await superuser.close()


async def test_the_start_up_check_tells_the_roles_apart(database_url: str) -> None:
    settings = make_settings(database_url)
    seen = {}
    for name, url in {
        "runtime": runtime_url(database_url),
        "owner": role_url(database_url, OWNER_ROLE),
        "superuser": database_url,
    }.items():
        engine = create_engine(settings, url)
        try:
            async with engine.connect() as connection:
                seen[name] = await rewrite_powers(connection)
        finally:
            await engine.dispose()

    runtime, owner, superuser = seen["runtime"], seen["owner"], seen["superuser"]
    assert runtime is not None
    assert owner is not None
    assert superuser is not None
    assert (runtime.superuser, runtime.owner, runtime.privileged) == (False, False, False)
    assert rewrite_warning(runtime) is None
    assert (owner.superuser, owner.owner) == (False, True)
    warning = rewrite_warning(owner)
    assert warning is not None
    assert f"role {OWNER_ROLE} owns audit_log" in warning
    assert "EXPSVC_MIGRATION_DATABASE_URL" in warning
    assert superuser.superuser
    assert "is a superuser" in (rewrite_warning(superuser) or "")
