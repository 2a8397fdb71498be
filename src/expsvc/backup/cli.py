"""``expsvc backup``: base backups, the WAL archive's ``archive_command``, point-in-time restore."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from expsvc.backup.tool import (
    BackupError,
    Backups,
    archive_command,
    embedded_bindir,
    pg_bindir,
)
from expsvc.settings import Settings

backup_app = typer.Typer(
    help="Base backups, WAL archiving and point-in-time restore (docs/runbook.md).",
    no_args_is_help=True,
)


def _backups(settings: Settings) -> Backups:
    directory = settings.backup_dir or settings.data_dir / "backups"
    bindir = settings.postgres_bindir
    if bindir is None:
        bindir = pg_bindir() if settings.database_url else embedded_bindir()
    return Backups(directory, bindir)


def _source_url(settings: Settings) -> str:
    if settings.backup_database_url:
        return settings.backup_database_url
    if settings.database_url:
        _fail("set EXPSVC_BACKUP_DATABASE_URL (a role with REPLICATION) to back up this database")
    from expsvc.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.data_dir, settings.database_runtime_role).superuser_url


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


@backup_app.command("create")
def create(
    label: Annotated[str | None, typer.Option(help="Name (default: the UTC time).")] = None,
) -> None:
    """Take a base backup (pg_basebackup) and verify it (pg_verifybackup)."""
    settings = Settings()
    try:
        made = _backups(settings).create(_source_url(settings), label)
    except BackupError as error:
        _fail(str(error))
        return
    typer.echo(f"{made.label}\t{made.start_wal}\t{made.start_time}\t{made.size_bytes}")


@backup_app.command("list")
def list_backups() -> None:
    """The base backups (label, start WAL location, start time, bytes) and the WAL archive."""
    backups = _backups(Settings())
    for made in backups.base_backups():
        typer.echo(f"{made.label}\t{made.start_wal}\t{made.start_time}\t{made.size_bytes}")
    segments = backups.wal_segments()
    newest = segments[-1] if segments else "-"
    typer.echo(f"wal archive: {len(segments)} segments, newest {newest} ({backups.wal})")


@backup_app.command("archive-command")
def print_archive_command() -> None:
    """Print the PostgreSQL settings that archive WAL into this backup directory."""
    backups = _backups(Settings())
    typer.echo("wal_level = replica")
    typer.echo("archive_mode = on")
    typer.echo("archive_timeout = 60")
    command = archive_command(backups.wal.resolve()).replace("'", "''")
    typer.echo(f"archive_command = '{command}'")


@backup_app.command("restore")
def restore(
    label: Annotated[str, typer.Argument(help="The base backup (`expsvc backup list`).")],
    target: Annotated[Path, typer.Argument(help="A new, empty data directory.")],
    until: Annotated[
        datetime | None,
        typer.Option(
            "--until", help="Recover to this time (RFC 3339 with offset); default: all WAL."
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option(help="System user to own the files (when run as root).")
    ] = None,
) -> None:
    """Prepare a data directory that replays the archive from a base backup up to a time."""
    if until is not None and until.tzinfo is None:
        _fail("--until needs a UTC offset (e.g. 2026-12-05T06:30:00+00:00)")
    try:
        _backups(Settings()).restore(label, target, until, owner)
    except BackupError as error:
        _fail(str(error))
    typer.echo(f"restored {label} into {target}; start it: pg_ctl -D {target} start")
