"""The embedded default's roles (docs/adr/0019): a data dir from before them, whose tables the
server's superuser owns, is handed to the owner role on start and then served as the runtime
role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from expsvc.embedded import OWNER_ROLE, EmbeddedPostgres, start_embedded_postgres
from expsvc.migrate import upgrade

pytestmark = pytest.mark.process


async def _fetch(url: str, statement: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement))
    finally:
        await connection.close()


def fetch(url: str, statement: str) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(url, statement))


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = start_embedded_postgres(tmp_path / "data")
    try:
        yield server
    finally:
        handle: Any = server.server
        handle.cleanup()


def test_a_data_dir_the_superuser_owned_is_handed_to_the_owner(
    embedded: EmbeddedPostgres,
) -> None:
    # As an older release left it: the database and every table the superuser's, at 0013.
    fetch(embedded.superuser_url, "ALTER DATABASE expsvc OWNER TO postgres")
    upgrade(embedded.superuser_url, "0013")
    owners = fetch(
        embedded.superuser_url,
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S')",
    )
    assert [record["owner"] for record in owners] == ["postgres"]

    again = start_embedded_postgres(embedded.data_dir)
    upgrade(again.owner_url)  # as the owner: it may alter what it now owns

    owners = fetch(
        again.superuser_url,
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S') "
        "UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'expsvc' "
        "UNION SELECT pg_get_userbyid(proowner) FROM pg_proc "
        "WHERE pronamespace = 'public'::regnamespace",
    )
    assert [record["owner"] for record in owners] == [OWNER_ROLE]
    (who,) = fetch(
        again.url,
        "SELECT current_user AS role, usesuper, (SELECT count(*) FROM experiments) AS experiments "
        "FROM pg_user WHERE usename = current_user",
    )
    assert tuple(who) == ("expsvc_runtime", False, 0)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        fetch(again.url, "DELETE FROM audit_log")
