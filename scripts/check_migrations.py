"""Lint the SQL of every migration: scripts/check-migrations (CI runs it; docs/migrations.md).

Each migration's upgrade is rendered on its own as ``alembic upgrade PREV:REV --sql`` (offline
mode, no database) into a file, and then:

- the file must set ``lock_timeout`` before its first transaction (env.py does it for every
  migration, online and offline);
- squawk (``.squawk.toml``: the rules excluded everywhere) must find nothing, apart from the
  findings listed in ``KNOWN_FINDINGS`` for landed migrations, which cannot be edited.

Downgrades are not linted: they are contract steps by construction (they drop what the upgrade
added), and ``expsvc db downgrade`` runs them only with the newer release stopped.

    scripts/check-migrations              check every migration
    scripts/check-migrations --keep DIR   also leave the rendered SQL files in DIR
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine.mock import MockConnection

from expsvc.migrate import alembic_config

ROOT = Path(__file__).resolve().parent.parent
SQUAWK_CONFIG = ROOT / ".squawk.toml"

# Findings accepted with a reason, per migration (docs/migrations.md#squawk keeps the same list):
# those of landed migrations, which cannot be edited, and, for a new migration, only a deliberate
# contract step (a column dropped that no supported release uses; the N-1 test shows it).
KNOWN_FINDINGS: dict[str, dict[str, str]] = {
    "0007": {
        "prefer-robust-stmts": "the concurrent index build has no IF NOT EXISTS: online, the "
        "migration asks pg_index whether an interrupted build left it INVALID and rebuilds it",
    },
    "0008": {
        "ban-drop-function": "expsvc_outbox_notify() was only the trigger's, dropped just "
        "before; no release calls it",
    },
    "0011": {
        "changing-column-type": "varchar(128) to varchar(256) only raises a limit: catalogue "
        "only in PostgreSQL, no rewrite (tests/test_migration_0011.py)",
    },
}

# Before the first BEGIN of a rendered migration, at the start of a line.
_LOCK_TIMEOUT = re.compile(r"^SET lock_timeout = '\d+(ms|s)';$", re.MULTILINE)
_FIRST_BEGIN = re.compile(r"^BEGIN;$", re.MULTILINE)


@contextmanager
def _offline_answers() -> Iterator[None]:
    """0007 asks the database (``scalar``) whether an interrupted build left its index INVALID;
    offline there is no database, so the answer is a fresh database's: no index yet."""
    had = hasattr(MockConnection, "scalar")
    previous = getattr(MockConnection, "scalar", None)
    MockConnection.scalar = lambda self, *args, **kwargs: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            MockConnection.scalar = previous  # type: ignore[attr-defined]
        else:
            del MockConnection.scalar  # type: ignore[attr-defined]


def render_migrations(directory: Path) -> list[Path]:
    """Each migration's offline upgrade SQL in ``directory``, oldest first."""
    config = alembic_config("postgresql://offline/render")
    scripts = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    rendered = []
    with _offline_answers():
        for script in scripts:
            buffer = io.StringIO()
            config.output_buffer = buffer
            command.upgrade(config, f"{script.down_revision or 'base'}:{script.revision}", sql=True)
            path = directory / f"{script.revision}.sql"
            path.write_text(buffer.getvalue())
            rendered.append(path)
    return rendered


def lock_timeout_problem(sql: str) -> str | None:
    """Why this migration's SQL would run without a lock_timeout, or None when it sets one."""
    setting = _LOCK_TIMEOUT.search(sql)
    if setting is None:
        return "sets no lock_timeout (env.py's SET lock_timeout is missing)"
    first_begin = _FIRST_BEGIN.search(sql)
    if first_begin is not None and first_begin.start() < setting.start():
        return "sets lock_timeout only after its first BEGIN"
    return None


def with_known_findings(revision: str, sql: str) -> str:
    """The SQL with squawk-ignore-file lines for this migration's accepted findings."""
    ignores = "".join(
        f"-- squawk-ignore-file {rule}\n" for rule in KNOWN_FINDINGS.get(revision, {})
    )
    return ignores + sql


def squawk(paths: list[Path]) -> int:
    squawk_binary = shutil.which("squawk")
    if squawk_binary is None:
        print("squawk is not installed: pip install -e '.[dev]' (squawk-cli)", file=sys.stderr)
        return 2
    arguments = [squawk_binary, "--config", str(SQUAWK_CONFIG), "--reporter", "gcc"]
    return subprocess.run([*arguments, *map(str, paths)], check=False).returncode  # noqa: S603


def check(directory: Path) -> int:
    problems = 0
    linted = []
    for path in render_migrations(directory):
        revision = path.stem
        sql = path.read_text()
        problem = lock_timeout_problem(sql)
        if problem is not None:
            print(f"{path}: migration {revision} {problem}", file=sys.stderr)
            problems += 1
        path.write_text(with_known_findings(revision, sql))
        linted.append(path)
    status = squawk(linted)
    print(f"{len(linted)} migrations rendered offline; lock_timeout missing in {problems}")
    return 1 if problems else status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="leave the rendered SQL files in this directory")
    arguments = parser.parse_args()
    if arguments.keep is not None:
        arguments.keep.mkdir(parents=True, exist_ok=True)
        return check(arguments.keep)
    with tempfile.TemporaryDirectory(prefix="expsvc-migrations-") as directory:
        return check(Path(directory))


if __name__ == "__main__":
    sys.exit(main())
