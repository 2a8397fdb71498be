"""The load generators (bench/openloop, wrk), the TCP_NODELAY check and CPU accounting."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OPENLOOP_SOURCE = BENCH / "openloop" / "openloop.c"
WRK_DIR = BENCH / "wrk"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def build_openloop(build_dir: Path) -> Path:
    """Compile bench/openloop/openloop.c (again only when the source is newer)."""
    binary = build_dir / "openloop"
    if binary.exists() and binary.stat().st_mtime >= OPENLOOP_SOURCE.stat().st_mtime:
        return binary
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise SystemExit("a C compiler (cc) is needed to build bench/openloop")
    build_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed arguments
        [compiler, "-O2", "-Wall", "-o", str(binary), str(OPENLOOP_SOURCE)], check=True
    )
    return binary


class CpuMeter:
    """CPU used between start and stop by the service's process tree, by the database's backend
    processes (those ``backends()`` lists, when given), and by the whole machine."""

    def __init__(self, root_pid: int, backends: Callable[[], list[int]] | None = None) -> None:
        self.root_pid = root_pid
        self.backends = backends
        self._tree0 = 0.0
        self._backends0: dict[int, float] = {}
        self._machine0 = (0.0, 0.0)
        self._wall0 = 0.0

    def start(self) -> None:
        self._tree0 = _tree_cpu(self.root_pid)
        self._backends0 = self._backend_cpu()
        self._machine0 = _machine_cpu()
        self._wall0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._wall0
        tree = _tree_cpu(self.root_pid) - self._tree0
        busy, total = (b - a for a, b in zip(self._machine0, _machine_cpu(), strict=True))
        # Backends that ended in between are missed; the pools keep theirs open.
        database = sum(
            seconds - self._backends0.get(pid, 0.0) for pid, seconds in self._backend_cpu().items()
        )
        return {
            "wall_s": round(wall, 3),
            "service_cpu_percent": round(100 * tree / wall, 1) if wall else 0.0,
            "database_cpu_percent": round(100 * database / wall, 1) if wall else 0.0,
            "machine_busy_percent": round(100 * busy / total, 1) if total else 0.0,
        }

    def _backend_cpu(self) -> dict[int, float]:
        if self.backends is None:
            return {}
        return {pid: _process_cpu(pid) for pid in self.backends()}


def _process_cpu(pid: int) -> float:
    try:
        values = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(values[11]) + int(values[12])) / CLOCK_TICKS


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return float(total - idle), float(total)


def _tree_cpu(pid: int) -> float:
    """user + system CPU seconds of ``pid`` and its live descendants."""
    seconds = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        values = stat.rsplit(")", 1)[1].split()
        seconds += (int(values[11]) + int(values[12])) / CLOCK_TICKS
        pending.extend(int(child) for child in children)
    return seconds


@dataclass(frozen=True)
class OpenLoopRun:
    rate: float
    duration: float
    warmup: float
    keep_alive: bool = True
    max_connections: int = 256
    drain_timeout: float = 10.0
    request_log: Path | None = None
    """Where the generator writes one line per measured request (scheduled ms, label,
    status, latency ms): latency over time."""


def run_openloop(binary: Path, port: int, requests: Path, spec: OpenLoopRun) -> dict[str, Any]:
    """Run the fixed-rate generator; its JSON report (latencies in ms from the schedule)."""
    command = [
        str(binary),
        "-p", str(port),
        "-r", str(spec.rate),
        "-d", str(spec.duration),
        "-w", str(spec.warmup),
        "-c", str(spec.max_connections),
        "-k", "1" if spec.keep_alive else "0",
        "-t", str(spec.drain_timeout),
        "-f", str(requests),
    ]  # fmt: skip
    if spec.request_log is not None:
        command += ["-l", str(spec.request_log)]
    deadline = spec.warmup + spec.duration + spec.drain_timeout + 30
    done = subprocess.run(  # noqa: S603 - our own binary
        command, capture_output=True, text=True, timeout=deadline, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openloop failed ({done.returncode}): {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@dataclass(frozen=True)
class WrkRun:
    scenario: str
    seconds: int
    connections: int
    threads: int
    new_connection: bool


def run_wrk(
    wrk: str,
    port: int,
    data_dir: Path,
    spec: WrkRun,
    idempotency: bool,
    nonce: str,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Closed-loop maximum throughput with one bench/wrk script; wrk's summary plus req/s."""
    command = [
        wrk,
        "-t", str(spec.threads),
        "-c", str(spec.connections),
        "-d", f"{spec.seconds}s",
        "--timeout", "10s",
        "-s", f"{spec.scenario}.lua",
    ]  # fmt: skip
    if spec.new_connection:
        command += ["-H", "Connection: close"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [f"http://127.0.0.1:{port}", "--", str(data_dir), "1" if idempotency else "0"]
    command.append(nonce)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(  # noqa: S603 - fixed arguments
        command,
        cwd=WRK_DIR,
        capture_output=True,
        text=True,
        timeout=spec.seconds + 60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK_JSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}{done.stdout}")
    summary: dict[str, Any] = json.loads(lines[-1].removeprefix("WRK_JSON "))
    seconds = summary["duration_us"] / 1e6
    failed = (
        summary["non_2xx_3xx"]
        + summary["connect_errors"]
        + summary["read_errors"]
        + summary["write_errors"]
        + summary["timeouts"]
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    summary["wrk_cpu_percent"] = round(100 * cpu / seconds, 1)
    summary["rps"] = round(summary["requests"] / seconds, 1)
    summary["ok_rps"] = round((summary["requests"] - failed) / seconds, 1)
    summary["failed"] = failed
    return summary


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the middle of the body")
        body += chunk
    return head


def nodelay_check(
    port: int, path: str, requests: int = 30, headers: Mapping[str, str] | None = None
) -> dict[str, float]:
    """Sequential requests, one at a time: the first on a keep-alive connection, the later ones
    on it, and each on its own connection. Nagle's algorithm left on for the accepted socket
    shows as ~40 ms on every reused-connection request (DESIGN.md, uvicorn issue #3149)."""

    def request(close: bool) -> bytes:
        extra = "Connection: close\r\n" if close else ""
        extra += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()

    def timed(sock: socket.socket, raw: bytes) -> float:
        started = time.perf_counter()
        sock.sendall(raw)
        head = _read_response(sock)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"nodelay check got {head[:40]!r}")
        return (time.perf_counter() - started) * 1000

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keep_alive = [timed(sock, request(False)) for _ in range(requests + 1)]
    fresh = []
    for _ in range(requests):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            fresh.append(timed(sock, request(True)))
    reused = keep_alive[1:]
    return {
        "first_ms": round(keep_alive[0], 2),
        "second_ms": round(keep_alive[1], 2),
        "reused_p50_ms": round(statistics.median(reused), 2),
        "reused_max_ms": round(max(reused), 2),
        "new_connection_p50_ms": round(statistics.median(fresh), 2),
        "nagle_suspected": statistics.median(reused) > 30,
    }


def database_backends(database_url: str) -> Callable[[], list[int]]:
    """Lists the PostgreSQL backend processes serving ``database_url``'s database."""
    import asyncio

    import asyncpg

    url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    query = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    async def fetch() -> list[int]:
        connection = await asyncpg.connect(url, timeout=10)
        try:
            return [int(row["pid"]) for row in await connection.fetch(query)]
        finally:
            await connection.close()

    def pids() -> list[int]:
        return asyncio.run(fetch())

    return pids


def machine_speed() -> float:
    """Seconds one core takes for 10 million Python additions (best of three): the machine's
    speed today. Figures of runs whose speeds differ are compared as shares of the ceiling."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best, 3)
