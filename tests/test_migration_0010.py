"""Migration 0010: experiment grants. Experiments that existed before are owned by their
creators; one the previous release creates afterwards gets its owner from
``expsvc grants backfill``; the migration reverts."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from typer.testing import CliRunner

from expsvc.cli import app
from expsvc.migrate import downgrade, upgrade

_OLD_RELEASE_INSERT = (
    "INSERT INTO experiments (id, name, created_by) VALUES (gen_random_uuid(), $1, $2) RETURNING id"
)


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def _grants(url: str) -> set[tuple[str, str, str]]:
    rows = asyncio.run(
        _sql(
            url,
            "SELECT e.name, g.grantee, g.role FROM experiment_grants AS g "
            "JOIN experiments AS e ON e.id = g.experiment_id",
        )
    )
    return {(row["name"], row["grantee"], row["role"]) for row in rows}


def test_creators_own_what_existed_and_the_backfill_catches_up(database_url: str) -> None:
    downgrade(database_url, "0009")
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "before", "alice"))
    upgrade(database_url)
    assert _grants(database_url) == {("before", "principal:alice", "owner")}

    # The previous release, still live during the rollout, creates one without a grant.
    asyncio.run(_sql(database_url, _OLD_RELEASE_INSERT, "during", "bob"))
    result = CliRunner().invoke(
        app, ["grants", "backfill"], env={"EXPSVC_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    assert "1 experiments got their creator as owner" in result.output
    assert _grants(database_url) == {
        ("before", "principal:alice", "owner"),
        ("during", "principal:bob", "owner"),
    }
    again = CliRunner().invoke(
        app, ["grants", "backfill"], env={"EXPSVC_DATABASE_URL": database_url}
    )
    assert "0 experiments" in again.output

    downgrade(database_url, "0009")
    tables = asyncio.run(_sql(database_url, "SELECT to_regclass('experiment_grants') AS t"))
    assert tables[0]["t"] is None
