"""``expsvc backup``: a base backup plus the WAL archive restore to a point in time between two
writes, finding the first and not the second; RPO and RTO measured and printed.

How it can fail: an archive_command that loses or truncates segments (recovery stops early: the
first write missing), a restore that ignores the target (the second write present), a base
backup pg_verifybackup rejects.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expsvc.backup.tool import Backups, archive_command
from expsvc.cli import app
from tests.chaos.conftest import report
from tests.pgcluster import (
    SYSTEM_USER,
    Cluster,
    bindir,
    clusters,
    private_directory,
    require_server_binaries,
)

pytestmark = pytest.mark.chaos


@pytest.fixture
def archived() -> Iterator[tuple[Cluster, Backups]]:
    """A PostgreSQL archiving its WAL into a backup directory through our archive_command."""
    require_server_binaries()
    directory = private_directory("backup")
    backups = Backups(directory, bindir())
    # The server's user runs the command: the service's venv may be out of its reach (root's).
    python = shutil.which("python3", path="/usr/bin:/bin") or "python3"
    if os.geteuid() != 0:
        import sys

        python = sys.executable
    command = archive_command(backups.wal, python).replace("'", "''")
    try:
        with clusters():
            primary = Cluster("archiving").initdb(archive_mode="on", archive_command=f"'{command}'")
            primary.start()
            yield primary, backups
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def wait_archived(primary: Cluster) -> float:
    """Close the current WAL segment and wait until it is archived; the seconds it took."""
    started = time.monotonic()
    segment = primary.psql("SELECT pg_walfile_name(pg_switch_wal())")
    until = started + 30
    while primary.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < segment:
        failed = primary.psql("SELECT failed_count FROM pg_stat_archiver")
        assert time.monotonic() < until, f"{segment} never archived ({failed} failures)"
        time.sleep(0.05)
    return time.monotonic() - started


def test_restore_to_a_point_between_two_writes(
    archived: tuple[Cluster, Backups], capsys: pytest.CaptureFixture[str]
) -> None:
    primary, backups = archived
    env = {
        "EXPSVC_DATABASE_URL": primary.url(),
        "EXPSVC_BACKUP_DATABASE_URL": primary.url(),
        "EXPSVC_BACKUP_DIR": str(backups.directory),
        "EXPSVC_POSTGRES_BINDIR": str(bindir()),
    }
    runner = CliRunner()
    created = runner.invoke(app, ["backup", "create", "--label", "nightly"], env=env)
    assert created.exit_code == 0, created.output
    primary.psql("CREATE TABLE marks (name text PRIMARY KEY)")
    primary.psql("INSERT INTO marks VALUES ('first')")
    between = datetime.fromisoformat(primary.psql("SELECT to_json(clock_timestamp())#>>'{}'"))
    time.sleep(0.2)
    primary.psql("INSERT INTO marks VALUES ('second')")
    archive_seconds = wait_archived(primary)

    listed = runner.invoke(app, ["backup", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("nightly\t"), listed.output

    restored = Cluster("restored")
    started = time.monotonic()
    target = restored.pgdata
    owner = ["--owner", SYSTEM_USER] if os.geteuid() == 0 else []
    arguments = ["backup", "restore", "nightly", str(target), "--until", between.isoformat()]
    done = runner.invoke(app, [*arguments, *owner], env=env)
    assert done.exit_code == 0, done.output
    restored.configure()  # its own port and socket directory
    restored.start()
    until = time.monotonic() + 30
    while restored.psql("SELECT pg_is_in_recovery()") == "t":
        assert time.monotonic() < until, "the restored server never finished recovery"
        time.sleep(0.05)
    rto = time.monotonic() - started

    assert restored.psql("SELECT string_agg(name, ',') FROM marks") == "first"
    restored.psql("INSERT INTO marks VALUES ('after restore')")  # it takes writes
    report(
        capsys,
        "point-in-time restore",
        base_backup_bytes=backups.base_backups()[0].size_bytes,
        wal_segments=len(backups.wal_segments()),
        seconds_to_archive_last_segment=f"{archive_seconds:.2f}",
        rto_seconds=f"{rto:.2f}",
    )


def test_archive_command_refuses_to_overwrite_a_segment_with_other_bytes(tmp_path: Path) -> None:
    from expsvc.backup.archive import main

    wal = tmp_path / "wal"
    segment = tmp_path / "000000010000000000000001"
    segment.write_bytes(b"a" * 100)
    assert main([str(segment), segment.name, str(wal)]) == 0
    assert main([str(segment), segment.name, str(wal)]) == 0  # a retry of the same segment
    segment.write_bytes(b"b" * 100)
    assert main([str(segment), segment.name, str(wal)]) == 1
    assert (wal / segment.name).read_bytes() == b"a" * 100


def test_the_embedded_default_is_backed_up_with_no_setup(tmp_path: Path) -> None:
    """No EXPSVC_DATABASE_URL: `expsvc backup create` backs up the embedded PostgreSQL (its
    superuser over the private socket, the pgserver wheel's pg_basebackup) and verifies it."""
    from tests.test_serve_process import stop_embedded_postgres

    data_dir = tmp_path / "data"
    unset = ("DATABASE_URL", "BACKUP_DATABASE_URL", "BACKUP_DIR", "POSTGRES_BINDIR")
    env: dict[str, str | None] = {f"EXPSVC_{name}": None for name in unset}
    env["EXPSVC_DATA_DIR"] = str(data_dir)
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["backup", "create", "--label", "first"], env=env)
        assert created.exit_code == 0, created.output
        listed = runner.invoke(app, ["backup", "list"], env=env)
        assert listed.exit_code == 0, listed.output
        assert listed.output.startswith("first\t"), listed.output
        assert (data_dir / "backups" / "base" / "first" / "backup_manifest").is_file()
    finally:
        stop_embedded_postgres(data_dir / "postgres")
