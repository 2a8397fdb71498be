"""Private PostgreSQL clusters from the machine's server binaries (``pg_config --bindir``).

For the tests (and bench/drills) that kill, promote, restore or archive a server: a primary, a
streaming replica made by ``pg_basebackup -R`` (synchronous if asked), each in a temporary
directory of its own and on a port in 55400-55499 only, always stopped and removed afterwards
(:func:`clusters`). Under root every binary runs as the ``postgres`` system user (initdb refuses
root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PORTS = range(55400, 55500)
SYSTEM_USER = "postgres"
DEADLINE = 30.0


@cache
def bindir() -> Path:
    """The directory of initdb, pg_ctl, pg_basebackup… of the machine's PostgreSQL."""
    found = shutil.which("pg_config")
    if found is None:
        raise RuntimeError("pg_config not found: install the PostgreSQL server package")
    return Path(
        subprocess.run(
            [found, "--bindir"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )


SERVER_BINARIES = ("initdb", "pg_ctl", "pg_basebackup")


def available() -> bool:
    try:
        return all((bindir() / name).is_file() for name in SERVER_BINARIES)
    except (RuntimeError, subprocess.CalledProcessError):
        return False


def require_server_binaries() -> None:
    """Skip the calling test or fixture when the server binaries are missing; under ``CI=true``
    fail it instead, so CI cannot pass with failover, restore and the drills silently skipped."""
    if available():
        return
    import pytest

    message = f"no PostgreSQL server binaries ({', '.join(SERVER_BINARIES)} in pg_config --bindir)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {message}; install the PostgreSQL server package", pytrace=False)
    pytest.skip(message)


def _as_root() -> bool:
    return os.geteuid() == 0


def run(*command: str, check: bool = True, timeout: float = DEADLINE) -> str:
    """A server binary (by name) or any command, as the system user when we are root."""
    program = str(bindir() / command[0]) if "/" not in command[0] else command[0]
    user = {"user": SYSTEM_USER, "group": SYSTEM_USER} if _as_root() else {}
    done = subprocess.run(
        [program, *command[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
        **user,  # type: ignore[arg-type]
    )
    if check and done.returncode:
        raise RuntimeError(f"{command[0]} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def private_directory(prefix: str) -> Path:
    """A fresh directory the server's user owns (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix=f"expsvc-{prefix}-"))
    if _as_root():
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


_taken: set[int] = set()
_made: list[Cluster] = []  # every cluster of this process, for clusters() to remove


def free_port() -> int:
    """A port of 55400-55499 nobody listens on (and that this process has not handed out)."""
    candidates = [port for port in PORTS if port not in _taken]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free port in 55400-55499")


@dataclass
class Cluster:
    """One PostgreSQL cluster (data directory + port), trust authentication on 127.0.0.1."""

    name: str
    directory: Path = field(default_factory=lambda: private_directory("pg"))
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        _made.append(self)

    @property
    def pgdata(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def initdb(self, **settings: str) -> Cluster:
        run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        self.configure(**settings)
        return self

    def copy_of(self, pgdata: Path, **settings: str) -> Cluster:
        """This cluster as a copy of a stopped cluster's data directory (faster than initdb
        plus migrations for every test), on its own port and socket directory."""
        run("/bin/cp", "-a", str(pgdata), str(self.pgdata))
        self.configure(**settings)
        return self

    def configure(self, **settings: str) -> None:
        """Append to postgresql.auto.conf (read at the next start or reload)."""
        base = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.directory}'",
            "cluster_name": f"'{self.name}'",
            "fsync": "on",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "wal_keep_size": "'64MB'",
            "shared_buffers": "'16MB'",
            "max_connections": "60",
            # After a crash, sync the data directory with one syncfs(), not a walk of fsyncs.
            "recovery_init_sync_method": "syncfs",
        }
        lines = [f"{key} = {value}" for key, value in (base | settings).items()]
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> Cluster:
        try:
            run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", "30", "start")
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{self.log.read_text()[-3000:]}") from None
        return self

    def stop(self, mode: str = "fast") -> None:
        run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        run("pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-m", "fast", "-w", "restart")

    def reload(self) -> None:
        run("pg_ctl", "-D", str(self.pgdata), "reload")

    def postmaster_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(pidfile.read_text().split()[0])
        return None

    def kill9(self) -> None:
        """SIGKILL to the postmaster and every backend: a crash, not a shutdown. The postmaster
        is stopped first, so it forks no backend between the listing and the kill."""
        pid = self.postmaster_pid()
        if pid is None or not _alive(pid):
            return
        os.kill(pid, signal.SIGSTOP)
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        members = [pid, *map(int, children.stdout.split())]
        for member in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        until = time.monotonic() + DEADLINE
        while any(map(_alive, members)):
            assert time.monotonic() < until, "PostgreSQL survived SIGKILL"
            time.sleep(0.01)
        # pg_ctl's postmaster is init's child; where init does not reap (a container's), the
        # zombie's pid still answers kill(pid, 0) and the next start takes the locks as held.
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        (self.directory / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)

    def promote(self) -> None:
        run("pg_ctl", "-D", str(self.pgdata), "-w", "-t", "30", "promote")

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and _alive(pid)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return run(
            "psql",
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ).strip()

    def replica(self, name: str, *, synchronous: bool = False) -> Cluster:
        """A streaming replica of this (running) cluster, started; with ``synchronous`` this
        primary then waits for its flush on every commit (``synchronous_commit = on``)."""
        standby = Cluster(name)
        run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            str(standby.pgdata),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        )
        standby.configure()  # its own port, socket directory and cluster_name (the walreceiver's
        standby.start()  # application_name, which synchronous_standby_names names)
        if synchronous:
            self.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
            self.reload()
            until = time.monotonic() + DEADLINE
            while (
                self.psql(
                    f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"  # noqa: S608
                )
                != "sync"
            ):
                assert time.monotonic() < until, "the replica never became synchronous"
                time.sleep(0.05)
        return standby

    def remove(self) -> None:
        if self.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
            if self.running():
                self.kill9()
        _taken.discard(self.port)
        shutil.rmtree(self.directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def prepare_service_database(primary: Cluster, database: str, owner: str, runtime: str) -> None:
    """The service's roles and database on ``primary``, migrated to head by the owner role."""
    from expsvc.migrate import upgrade

    for role in (owner, runtime):
        primary.psql(f"CREATE ROLE {role} LOGIN")
    primary.psql(f"CREATE DATABASE {database} OWNER {owner}")
    upgrade(primary.url(database, owner), runtime_role=runtime)


def multi_host_url(*members: Cluster, database: str, user: str) -> str:
    """libpq's form: every member, the one that takes writes is used."""
    hosts = ",".join(f"127.0.0.1:{member.port}" for member in members)
    return f"postgresql://{user}@{hosts}/{database}?target_session_attrs=read-write"


@contextlib.contextmanager
def clusters() -> Iterator[None]:
    """Every cluster made inside the block (replicas too) is stopped and removed when it ends."""
    before = len(_made)
    try:
        yield
    finally:
        while len(_made) > before:
            _made.pop().remove()
