"""A private PostgreSQL cluster for one sandbox run, from the machine's own server binaries.

``initdb`` into a temporary directory, ``pg_ctl start`` on a port of its own (127.0.0.1 and a
unix socket in that directory, trust authentication), stopped and deleted at the end: the
sandbox never touches another database. The binaries are those of ``pg_config --bindir``, the
same installation whose ``pgbench`` drives the load. PostgreSQL refuses to run as root, so under
root the server runs as the ``postgres`` operating-system user (``--pg-os-user``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_SECONDS = 60


def bindir() -> Path:
    """The directory of the machine's PostgreSQL server binaries (``pg_config --bindir``)."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise SystemExit("pg_config is not on PATH: install the PostgreSQL server package")
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [pg_config, "--bindir"], capture_output=True, text=True, check=True
    )
    return Path(done.stdout.strip())


def binary(name: str) -> Path:
    path = bindir() / name
    if not path.exists():
        raise SystemExit(f"{path} does not exist (pg_config --bindir has no {name})")
    return path


@dataclass(frozen=True)
class Cluster:
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def _as_user(os_user: str | None) -> dict[str, object]:
    """Popen arguments running a command as ``os_user`` (None: as ourselves)."""
    if os_user is None:
        return {}
    entry = pwd.getpwnam(os_user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(command: list[str], os_user: str | None, log: Path) -> None:
    with log.open("ab") as sink:
        subprocess.run(  # noqa: S603 - the server's own binaries
            command, stdout=sink, stderr=subprocess.STDOUT, check=True, **_as_user(os_user)
        )


@contextlib.contextmanager
def private_cluster(
    port: int, log: Path, settings: Mapping[str, str], os_user: str | None = None
) -> Iterator[Cluster]:
    """A fresh cluster listening on 127.0.0.1:``port`` until the block ends, then deleted."""
    if os_user is None and os.geteuid() == 0:
        os_user = "postgres"
    directory = Path(tempfile.mkdtemp(prefix="expsvc-sandbox-pg-"))
    data = directory / "data"
    data.mkdir()
    if os_user is not None:
        entry = pwd.getpwnam(os_user)
        for path in (directory, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={directory}",
        *(f"-c {name}={value}" for name, value in settings.items()),
    ]
    pg_ctl = str(binary("pg_ctl"))
    try:
        _run(
            [str(binary("initdb")), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            os_user, log,
        )  # fmt: skip
        _run(
            [pg_ctl, "start", "-D", str(data), "-w", "-t", str(START_TIMEOUT_SECONDS),
             "-l", str(directory / "server.log"), "-o", " ".join(options)],
            os_user, log,
        )  # fmt: skip
        try:
            yield Cluster(port, directory)
        finally:
            _run([pg_ctl, "stop", "-D", str(data), "-m", "fast", "-w"], os_user, log)
            with contextlib.suppress(OSError), log.open("ab") as sink:
                sink.write((directory / "server.log").read_bytes())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
