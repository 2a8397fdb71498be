"""The ``expsvc`` command line, invoked in-process against the test database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import typer
from alembic.script import ScriptDirectory
from typer.testing import CliRunner, Result

from expsvc import __version__, cli
from expsvc.cli import app
from expsvc.migrate import alembic_config, head_revision
from expsvc.release.catalogue import current_release, release_key
from tests.conftest import OWNER_ROLE, role_url, runtime_url

runner = CliRunner()


def invoke(*args: str, database_url: str | None = None) -> Result:
    env = {"EXPSVC_DATABASE_URL": database_url} if database_url else None
    return runner.invoke(app, list(args), env=env)


def flat(text: str) -> str:
    """Help text without rich's panel borders and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def subcommands(command: Any) -> dict[str, Any]:
    """A group's commands (typer vendors click, so test by shape, not by class)."""
    return dict(getattr(command, "commands", {}))


def commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in subcommands(group).items():
        found.append((*prefix, name))
        found.extend(commands(command, (*prefix, name)))
    return found


ROOT = typer.main.get_command(app)
COMMANDS = commands(ROOT)


def resolve(path: tuple[str, ...]) -> Any:
    command = ROOT
    for name in path:
        command = subcommands(command)[name]
    return command


def test_root_help_lists_every_command() -> None:
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    assert "Experiment Service" in result.output
    for path in COMMANDS:
        if len(path) == 1:
            assert path[0] in result.output


def test_the_expected_commands_exist() -> None:
    assert {("serve",), ("db",), ("db", "upgrade"), ("db", "downgrade"), ("db", "current")} <= set(
        COMMANDS
    )
    assert {("seed",), ("openapi",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_has_help_that_says_what_it_does(path: tuple[str, ...]) -> None:
    summary = resolve(path).get_short_help_str(limit=200).rstrip(".")
    assert len(summary) > 10, f"'expsvc {' '.join(path)}' has no help"
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert flat(summary) in flat(result.output)


def test_version_is_the_release_this_code_is_or_heads_for() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == __version__
    assert release_key(__version__) == release_key(current_release().version)


def schema_state(output: str) -> tuple[str, str, str]:
    """(current revision, position, the readiness schema check)."""
    current = re.search(r"^current:\s+(\S+)", output, re.MULTILINE)
    state = re.search(r"^(at head|behind head|ahead of head)$", output, re.MULTILINE)
    check = re.search(r"^schema:\s+(\S+) \(", output, re.MULTILINE)
    assert current, output
    assert state, output
    assert check, output
    return current.group(1), state.group(1), check.group(1)


async def _table_exists(url: str, table: str) -> bool:
    connection = await asyncpg.connect(url)
    try:
        return bool(await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table))
    finally:
        await connection.close()


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def _fetch_value(url: str, statement: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


def table_exists(url: str, table: str) -> bool:
    return asyncio.run(_table_exists(url, table))


def test_db_current_downgrade_and_upgrade(database_url: str) -> None:
    result = invoke("db", "current", database_url=database_url)
    assert result.exit_code == 0, result.output
    assert schema_state(result.output) == (head_revision(), "at head", "ok")
    assert f"head:    {head_revision()}" in result.output

    result = invoke("db", "downgrade", "base", "--force", database_url=database_url)
    assert result.exit_code == 0, result.output
    assert not table_exists(database_url, "experiments")
    result = invoke("db", "current", database_url=database_url)
    assert schema_state(result.output) == ("(empty)", "behind head", "missing")

    result = invoke("db", "upgrade", database_url=database_url)
    assert result.exit_code == 0, result.output
    assert table_exists(database_url, "experiments")
    result = invoke("db", "current", database_url=database_url)
    assert schema_state(result.output) == (head_revision(), "at head", "ok")

    asyncio.run(_execute(database_url, "UPDATE alembic_version SET version_num = '0999'"))
    result = invoke("db", "current", database_url=database_url)
    assert schema_state(result.output) == ("0999", "ahead of head", "ahead-incompatible")


@pytest.mark.parametrize(
    ("target", "losses"),
    [
        ("0013", ["0015: audit_log's protection"]),
        ("relative", ["0015: audit_log's protection"]),
        ("0003", ["0015: audit_log's protection", "0004: the table audit_log and every row"]),
        ("base", ["0015: audit_log's protection", "0004: the table audit_log and every row"]),
    ],
)
def test_db_downgrade_past_the_audit_migrations_wants_force(
    database_url: str, target: str, losses: list[str]
) -> None:
    if target == "relative":  # the relative step from the head to just below 0015
        target = f"-{_steps_from_head_to('0015')}"
    before = asyncio.run(_fetch_value(database_url, "SELECT version_num FROM alembic_version"))
    # "--": a relative target such as -1 is no option.
    result = invoke("db", "downgrade", "--", target, database_url=database_url)
    assert result.exit_code == 2, result.output
    message = flat(result.output)
    assert f"refusing to downgrade to {target}" in message
    for loss in losses:
        assert loss in message
    assert "--force" in message
    after = asyncio.run(_fetch_value(database_url, "SELECT version_num FROM alembic_version"))
    assert after == before
    assert table_exists(database_url, "audit_log")

    result = invoke("db", "downgrade", "--force", "--", target, database_url=database_url)
    assert result.exit_code == 0, result.output
    assert table_exists(database_url, "audit_log") == (target not in {"0003", "base"})


def _steps_from_head_to(revision: str) -> int:
    """How many revisions a relative downgrade from the head takes to undo ``revision`` too."""
    script = ScriptDirectory.from_config(alembic_config())
    walked = [step.revision for step in script.walk_revisions("base", "heads")]
    return walked.index(revision) + 1


def test_db_downgrade_above_the_audit_migrations_needs_no_force(database_url: str) -> None:
    invoke("db", "downgrade", "0013", "--force", database_url=database_url)
    result = invoke("db", "downgrade", "0012", database_url=database_url)
    assert result.exit_code == 0, result.output


def test_db_upgrade_runs_as_the_owner_and_warns_when_the_service_could_rewrite_the_audit_log(
    database_url: str,
) -> None:
    owner = role_url(database_url, OWNER_ROLE)
    invoke("db", "downgrade", "--force", "base", database_url=owner)
    two_roles = {
        "EXPSVC_DATABASE_URL": runtime_url(database_url),
        "EXPSVC_MIGRATION_DATABASE_URL": owner,
    }
    result = runner.invoke(app, ["db", "upgrade"], env=two_roles)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert table_exists(database_url, "audit_log")

    result = invoke("db", "upgrade", database_url=owner)  # one URL: the owner serves too
    assert result.exit_code == 0, result.output
    assert f"warning: the service's database role {OWNER_ROLE} owns audit_log" in flat(
        result.output
    )


def test_db_downgrade_demands_an_explicit_revision(database_url: str) -> None:
    result = invoke("db", "downgrade", database_url=database_url)
    assert result.exit_code == 2
    assert table_exists(database_url, "experiments")


def test_openapi_writes_the_document(tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    result = invoke("openapi", "-o", str(target))
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == __version__
    assert {"get", "post"} <= set(document["paths"]["/v1/experiments"])
    assert "/v1/experiments/{experiment_id}" in document["paths"]

    printed = invoke("openapi")
    assert printed.exit_code == 0
    assert json.loads(printed.stdout) == document


async def _count(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM experiments"))
    finally:
        await connection.close()


def test_seed_creates_the_requested_experiments(database_url: str) -> None:
    result = invoke("seed", "--experiments", "25", database_url=database_url)
    assert result.exit_code == 0, result.output
    assert "created 25 experiments" in result.output
    assert asyncio.run(_count(database_url)) == 25
    again = invoke("seed", "--experiments", "5", database_url=database_url)
    assert again.exit_code == 0, again.output
    assert asyncio.run(_count(database_url)) == 30


def test_seed_refuses_a_negative_count(database_url: str) -> None:
    result = invoke("seed", "--experiments", "-1", database_url=database_url)
    assert result.exit_code == 2
    assert asyncio.run(_count(database_url)) == 0


def test_unreachable_database_is_one_clear_line_not_a_traceback() -> None:
    env = {
        **os.environ,
        "EXPSVC_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
        "EXPSVC_DB_CONNECT_TIMEOUT": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "expsvc", "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "the database cannot be used" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_serve_refuses_to_start_without_uvloop_or_httptools(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "SERVER_MODULES", ("uvloop", "expsvc_test_no_such_parser"))
    monkeypatch.setenv("EXPSVC_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/never")
    result = invoke("serve")
    assert result.exit_code == 2
    assert "expsvc_test_no_such_parser" in flat(result.output)
    assert "uvloop and" not in flat(result.output)  # only what is missing is named
