"""Migration 0011: webhook secrets widened to varchar(256) without a table rewrite; the
downgrade narrows them back only when every value fits."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from alembic.util import CommandError
from typer.testing import CliRunner

from expsvc.cli import app
from expsvc.migrate import downgrade, upgrade

_PLAIN = "whsec_" + "A" * 44
_INSERT = (
    "INSERT INTO webhook_endpoints (id, url, secret, previous_secret, created_by) "
    "VALUES (gen_random_uuid(), 'https://hooks.example.com/', $1, $2, 'test')"
)


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def _lengths(url: str) -> dict[str, int]:
    rows = asyncio.run(
        _sql(
            url,
            "SELECT column_name, character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'webhook_endpoints' AND column_name LIKE '%secret'",
        )
    )
    return {row["column_name"]: row["character_maximum_length"] for row in rows}


def _relfilenode(url: str) -> int:
    (row,) = asyncio.run(
        _sql(url, "SELECT relfilenode FROM pg_class WHERE oid = 'webhook_endpoints'::regclass")
    )
    return int(row["relfilenode"])


def _revision(url: str) -> str:
    (row,) = asyncio.run(_sql(url, "SELECT version_num FROM alembic_version"))
    return str(row["version_num"])


def test_the_columns_widen_in_place_and_narrow_back(database_url: str) -> None:
    assert _lengths(database_url) == {"secret": 256, "previous_secret": 256}

    downgrade(database_url, "0010")
    assert _lengths(database_url) == {"secret": 128, "previous_secret": 128}
    # The previous release's rows: plain secrets, one with a previous secret.
    asyncio.run(_sql(database_url, _INSERT, _PLAIN, None))
    asyncio.run(_sql(database_url, _INSERT, _PLAIN, _PLAIN))
    before = _relfilenode(database_url)

    upgrade(database_url)
    assert _lengths(database_url) == {"secret": 256, "previous_secret": 256}
    assert _relfilenode(database_url) == before  # catalogue only: the table was not rewritten
    rows = asyncio.run(_sql(database_url, "SELECT secret, previous_secret FROM webhook_endpoints"))
    assert sorted((r["secret"], r["previous_secret"] or "") for r in rows) == [
        (_PLAIN, ""),
        (_PLAIN, _PLAIN),
    ]
    sealed = "enc:v1:" + "x" * 164  # the length of a sealed whsec_ secret
    asyncio.run(_sql(database_url, _INSERT, sealed, sealed))

    # A value that does not fit back: refused, nothing changed.
    with pytest.raises(CommandError, match="1 webhook endpoints hold a secret longer than 128"):
        downgrade(database_url, "0010")
    result = CliRunner().invoke(
        app, ["db", "downgrade", "0010"], env={"EXPSVC_DATABASE_URL": database_url}
    )
    assert result.exit_code == 2
    assert "error: cannot downgrade below 0011" in result.output
    assert "Traceback" not in result.output
    assert _revision(database_url) == "0011"
    assert _lengths(database_url) == {"secret": 256, "previous_secret": 256}

    # Only plain (short) values left: the downgrade goes through and keeps them.
    asyncio.run(_sql(database_url, "DELETE FROM webhook_endpoints WHERE secret = $1", sealed))
    downgrade(database_url, "0010")
    assert _lengths(database_url) == {"secret": 128, "previous_secret": 128}
    assert len(asyncio.run(_sql(database_url, "SELECT 1 FROM webhook_endpoints"))) == 2
    upgrade(database_url)
