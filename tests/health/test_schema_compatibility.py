"""Readiness during a rollout (docs/adr/0017): the code in this tree against a database at its
head, behind it, and migrated by the next release, as the runbook's migrate-first deploy leaves
it. The next release is simulated by a migration of its own, applied through the service's
migration environment with the record that release would write."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from expsvc import __version__
from expsvc.migrate import MIGRATIONS_DIR, alembic_config, downgrade, head_revision
from expsvc.release.catalogue import current_release
from expsvc.release.repository import RecordedRelease
from tests.problems import assert_problem

NEXT = "0999"
NEXT_RELEASE = "99.0.0"
_NEXT_MIGRATION = '''"""the next release: an expand-only change"""
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("next_release_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("next_release_notes")
'''


def migrate_as_next_release(url: str, where: Path, oldest_compatible_release: str) -> None:
    """What the next release's ``expsvc db upgrade`` does: one more migration, then the record
    of its head, saying which releases still run on it."""
    where.mkdir(exist_ok=True)
    (where / f"2027_01_01_{NEXT}_next.py").write_text(
        _NEXT_MIGRATION.format(revision=NEXT, down=head_revision())
    )
    config = alembic_config(url)
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), str(where)])
    )
    config.attributes["schema_release"] = RecordedRelease(NEXT_RELEASE, oldest_compatible_release)
    command.upgrade(config, "head")


async def _fetch(url: str, statement: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement))
    finally:
        await connection.close()


async def test_at_head_the_schema_is_ok_and_the_upgrade_recorded_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = (await client.get("/health/ready")).json()
    assert body["checks"] == {"database": "ok", "schema": "ok"}
    assert body["oldest_schema_revision"] == current_release().oldest_schema
    assert body["schema_release"] is None  # read only when the database is ahead
    rows = await _fetch(
        database_url, "SELECT revision, release, oldest_compatible_release FROM schema_releases"
    )
    assert [tuple(row) for row in rows] == [
        (head_revision(), __version__, current_release().oldest_compatible_release)
    ]


async def test_a_database_migrated_by_the_next_release_keeps_this_one_ready(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    assert (await client.get("/health/ready")).status_code == 200
    await asyncio.to_thread(
        migrate_as_next_release, database_url, tmp_path, current_release().version
    )

    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "schema": "ahead-compatible"}
    assert body["schema_revision"] == NEXT
    assert body["expected_schema_revision"] == head_revision()
    assert body["schema_release"] == NEXT_RELEASE
    assert body["schema_oldest_compatible_release"] == current_release().version
    # And the API still works on it.
    assert (await client.post("/v1/experiments", json={"name": "n"})).status_code == 201


async def test_a_next_release_that_drops_this_one_makes_it_unready(
    client: httpx.AsyncClient, database_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(migrate_as_next_release, database_url, tmp_path, NEXT_RELEASE)

    response = await client.get("/health/ready")
    problem = assert_problem(response, 503, "not-ready")
    assert response.headers["retry-after"]
    assert problem["checks"] == {"database": "ok", "schema": "ahead-incompatible"}
    assert problem["schema_revision"] == NEXT
    assert problem["schema_release"] == NEXT_RELEASE
    assert problem["schema_oldest_compatible_release"] == NEXT_RELEASE
    assert problem["version"] == __version__
    assert problem["detail"].startswith("schema: ahead-incompatible (")
    assert f"runs releases from {NEXT_RELEASE} on it, not {__version__}" in problem["detail"]


async def test_an_unknown_revision_without_a_record_is_ahead_incompatible(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await _fetch(database_url, "UPDATE alembic_version SET version_num = '0999'")
    problem = assert_problem(await client.get("/health/ready"), 503, "not-ready")
    assert problem["checks"]["schema"] == "ahead-incompatible"
    assert problem["schema_release"] is None
    assert "no record of" in problem["detail"]


def _below(revision: str) -> str:
    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    assert script is not None
    if not isinstance(script.down_revision, str):
        pytest.skip(f"nothing is older than {revision}")
    return script.down_revision


async def test_behind_but_not_older_than_the_oldest_schema_is_ready(
    client: httpx.AsyncClient, database_url: str
) -> None:
    oldest = current_release().oldest_schema
    if oldest == head_revision():
        pytest.skip("this release runs on its head only")
    await asyncio.to_thread(downgrade, database_url, oldest)
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["schema"] == "behind-compatible"
    assert response.json()["schema_revision"] == oldest


async def test_older_than_the_oldest_schema_is_behind(
    client: httpx.AsyncClient, database_url: str
) -> None:
    older = _below(current_release().oldest_schema)
    await asyncio.to_thread(downgrade, database_url, older)
    response = await client.get("/health/ready")
    problem = assert_problem(response, 503, "not-ready")
    assert problem["checks"] == {"database": "ok", "schema": "behind"}
    assert problem["schema_revision"] == older
    assert problem["oldest_schema_revision"] == current_release().oldest_schema
    assert "run expsvc db upgrade" in problem["detail"]
