"""Base backups (``pg_basebackup`` + ``pg_verifybackup``) and restores from them plus the WAL
archive (:mod:`expsvc.backup.archive`), for an external PostgreSQL and the embedded one.

Layout of the backup directory: ``base/<label>/`` one verified plain-format base backup each
(``backup_label``, ``backup_manifest``), ``wal/`` the archived WAL segments. A restore copies a
base backup to a new data directory and has the server replay the archive up to a target time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PARTIAL = ".partial"


class BackupError(Exception):
    """A backup tool failed or a backup is not what it should be."""


@dataclass(frozen=True)
class BaseBackup:
    label: str
    path: Path
    start_wal: str
    start_time: str
    size_bytes: int


@dataclass(frozen=True)
class Backups:
    """One backup directory."""

    directory: Path
    bindir: Path | None = None  # PostgreSQL client binaries; None: the PATH's

    @property
    def base(self) -> Path:
        return self.directory / "base"

    @property
    def wal(self) -> Path:
        return self.directory / "wal"

    def _tool(self, name: str) -> str:
        return str(self.bindir / name) if self.bindir else name

    def _run(self, *command: str) -> None:
        # Our own argument lists (no shell): the tools and paths come from the settings.
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode:
            raise BackupError(f"{Path(command[0]).name} failed:\n{done.stderr or done.stdout}")

    def create(self, url: str, label: str | None = None) -> BaseBackup:
        """A base backup of the server at ``url`` (a role with REPLICATION), verified."""
        label = label or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target, partial = self.base / label, self.base / f"{label}{PARTIAL}"
        if target.exists():
            raise BackupError(f"backup {label} exists already")
        self.base.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        self._run(
            self._tool("pg_basebackup"), "--dbname", url, "--pgdata", str(partial),
            "--format", "plain", "--wal-method", "stream", "--checkpoint", "fast",
            "--label", f"expsvc {label}", "--no-password",
        )  # fmt: skip
        self._run(self._tool("pg_verifybackup"), str(partial))
        partial.rename(target)
        return self._describe(target)

    def base_backups(self) -> list[BaseBackup]:
        if not self.base.is_dir():
            return []
        found = [p for p in self.base.iterdir() if p.is_dir() and not p.name.endswith(PARTIAL)]
        return [self._describe(path) for path in sorted(found)]

    def wal_segments(self) -> list[str]:
        if not self.wal.is_dir():
            return []
        return sorted(p.name for p in self.wal.iterdir() if not p.name.startswith("."))

    def verify(self, label: str) -> None:
        self._run(self._tool("pg_verifybackup"), "--no-parse-wal", str(self._path(label)))

    def restore(
        self, label: str, target: Path, until: datetime | None = None, owner: str | None = None
    ) -> None:
        """Make ``target`` a data directory that, started, replays the archive from ``label``'s
        backup up to ``until`` (the end of the archive if None) and then takes writes."""
        source = self._path(label)
        if target.exists() and any(target.iterdir()):
            raise BackupError(f"{target} is not empty")
        self.verify(label)
        shutil.copytree(source, target, dirs_exist_ok=True)
        (target / "backup_manifest").unlink(missing_ok=True)
        (target / "recovery.signal").touch()
        settings = {
            "restore_command": f"cp {shlex.quote(str(self.wal))}/%f %p",
            "recovery_target_action": "promote",
        }
        if until is not None:
            settings["recovery_target_time"] = until.isoformat()
        with (target / "postgresql.auto.conf").open("a") as conf:
            conf.write("# expsvc backup restore\n")
            conf.writelines(f"{key} = '{_quoted(value)}'\n" for key, value in settings.items())
        target.chmod(0o700)
        if owner is not None:
            for path in [target, *target.rglob("*")]:
                shutil.chown(path, owner, owner)

    def _path(self, label: str) -> Path:
        path = self.base / label
        if not path.is_dir() or label.endswith(PARTIAL):
            raise BackupError(f"no backup {label!r} in {self.base}")
        return path

    def _describe(self, path: Path) -> BaseBackup:
        fields = dict(
            line.split(": ", 1)
            for line in (path / "backup_label").read_text().splitlines()
            if ": " in line
        )
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return BaseBackup(
            label=path.name,
            path=path,
            start_wal=fields.get("START WAL LOCATION", "?").split(" ")[0],
            start_time=fields.get("START TIME", "?"),
            size_bytes=size,
        )


def archive_command(wal_dir: Path, python: str = sys.executable) -> str:
    """The ``archive_command`` setting that archives into ``wal_dir``: the archive module run
    as a script (standard library only, so any Python 3 the server's user may run will do)."""
    script = Path(__file__).with_name("archive.py")
    return f"{shlex.quote(python)} {shlex.quote(str(script))} %p %f {shlex.quote(str(wal_dir))}"


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def pg_bindir() -> Path | None:
    """The machine's PostgreSQL binaries (``pg_config --bindir``), or None (use the PATH)."""
    found = shutil.which("pg_config")
    if found is None:
        return None
    done = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
    path = Path(done.stdout.strip())
    return path if done.returncode == 0 and path.is_dir() else None


def embedded_bindir() -> Path:
    """The embedded PostgreSQL's binaries (the pgserver wheel's)."""
    import pgserver

    return Path(os.path.dirname(pgserver.__file__)) / "pginstall" / "bin"
