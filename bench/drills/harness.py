"""What every drill shares: a private stage, a steady write load, the runbook's commands, timing.

A stage is PostgreSQL clusters of tests/pgcluster.py (copies of one migrated template), a real
``expsvc serve`` (relay off) and ``expsvc worker`` on private loopback ports, and the operator's
shell environment the runbook's commands read (docs/runbook.md#how-to-read-the-commands).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench.drills.runbook import Steps, steps
from tests.pgcluster import Cluster, bindir, clusters, prepare_service_database

DATABASE = "expsvc"
OWNER = "expsvc_owner"
RUNTIME = "expsvc_runtime"
SECRET_KEY = "ZHJpbGwtb25seS1rZXktb2YtZXhwc3ZjLWRyaWxscyE="
DEADLINE = 120.0  # any single wait of a drill
STEADY_SECONDS = 3.0  # of write load before the injection, and after the verification
# What every stage gives the runbook's commands; a drill may add its own (Drill.variables).
COMMON_VARIABLES = frozenset(
    {"EXPSVC_URL", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGDATA", "EXPSVC_DATABASE_URL"}
)


class DrillFailed(AssertionError):
    """The drill did not recover, or the runbook's commands did not do what they say."""


def poll(condition: Callable[[], object], what: str, deadline: float = DEADLINE) -> float:
    """Wait until ``condition()`` is true; the monotonic time it became so."""
    until = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > until:
            raise DrillFailed(f"timed out waiting: {what}")
        time.sleep(0.05)
    return time.monotonic()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_template() -> Path:
    """A stopped cluster's data directory with the service's roles and database at the
    migration head (made once per runner; each drill starts from a copy)."""
    template = Cluster("drill-template").initdb()
    template.start()
    prepare_service_database(template, DATABASE, OWNER, RUNTIME)
    template.stop()
    return template.pgdata


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)


# --- the write load ----------------------------------------------------------------------------


@dataclass
class WriteLoad:
    """``loops`` threads each creating an experiment every ``pause`` seconds with an
    Idempotency-Key; a 503 or a broken connection is retried with the same key, as a client
    following Retry-After would (sooner: the drill is timed)."""

    base_url: str
    loops: int = 2
    pause: float = 0.4
    acknowledged: dict[str, float] = field(default_factory=dict)  # experiment id -> when
    requests: int = 0
    unavailable: int = 0  # 503 answers and transport errors
    failures: list[str] = field(default_factory=list)
    in_flight: dict[int, float] = field(default_factory=dict)  # thread -> request started
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> WriteLoad:
        for index in range(self.loops):
            thread = threading.Thread(target=self._loop, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def longest_wait(self) -> float:
        """Seconds the oldest request still unanswered has been waiting."""
        with self._lock:
            oldest = min(self.in_flight.values(), default=None)
        return 0.0 if oldest is None else time.monotonic() - oldest

    def acknowledged_after(self, moment: float) -> int:
        with self._lock:
            return sum(1 for when in self.acknowledged.values() if when > moment)

    def _loop(self, index: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10.0) as http:
            number = 0
            while not self._stop.is_set():
                self._create(http, f"drill-{index}-{number}-{uuid.uuid4().hex[:6]}")
                number += 1
                self._stop.wait(self.pause)

    def _create(self, http: httpx.Client, name: str) -> None:
        key = str(uuid.uuid4())
        while not self._stop.is_set():
            with self._lock:
                self.requests += 1
                self.in_flight[threading.get_ident()] = time.monotonic()
            try:
                response = http.post(
                    "/v1/experiments", json={"name": name}, headers={"Idempotency-Key": key}
                )
            except httpx.TransportError:
                response = None
            finally:
                with self._lock:
                    self.in_flight.pop(threading.get_ident(), None)
            if response is not None and response.status_code in (200, 201):
                with self._lock:
                    self.acknowledged[response.json()["id"]] = time.monotonic()
                return
            if response is None or response.status_code in (409, 503):  # 409: key in flight
                with self._lock:
                    self.unavailable += 1
                self._stop.wait(0.2)
                continue
            self.failures.append(f"{response.status_code} {response.text[:200]}")
            return


# --- the stage ---------------------------------------------------------------------------------


@dataclass
class CommandRun:
    command: str
    code: int
    output: str
    seconds: float


@dataclass
class Stage:
    """One drill's private world; everything in it is removed by :func:`stage`."""

    template: Path
    directory: Path
    clusters: dict[str, Cluster] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    service_env: dict[str, str] = field(default_factory=dict)
    operator_env: dict[str, str] = field(default_factory=dict)
    load: WriteLoad | None = None
    transcript: list[CommandRun] = field(default_factory=list)
    cleanup: list[Callable[[], object]] = field(default_factory=list)  # run last to first

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tear_down(self) -> None:
        """Everything of the stage but its clusters (removed by tests.pgcluster.clusters)."""
        if self.load is not None:
            self.load.stop()
        for process in reversed(self.processes):
            process.kill()
        for pid in started_by_commands(self.directory):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for step in reversed(self.cleanup):
            with contextlib.suppress(Exception):
                step()

    # PostgreSQL

    def cluster(self, name: str, **settings: str) -> Cluster:
        """A started copy of the migrated template."""
        member = Cluster(name).copy_of(self.template, **settings)
        member.start()
        self.clusters[name] = member
        return member

    def database_url(self, user: str, *members: Cluster) -> str:
        if len(members) == 1:
            return members[0].url(DATABASE, user)
        hosts = ",".join(f"127.0.0.1:{member.port}" for member in members)
        return f"postgresql://{user}@{hosts}/{DATABASE}?target_session_attrs=read-write"

    def add_replica(self, replica: Cluster) -> None:
        """``replica`` as the stage's ``replica`` cluster, and where the runbook's commands
        find it (``REPLICA_HOST``, ``REPLICA_PORT``, ``REPLICA_PGDATA``)."""
        self.clusters["replica"] = replica
        self.operator_env |= {
            "REPLICA_HOST": "127.0.0.1",
            "REPLICA_PORT": str(replica.port),
            "REPLICA_PGDATA": str(replica.pgdata),
        }

    def configure(self, *members: Cluster, **extra: str) -> None:
        """The service's settings (on ``members``) and the operator's shell environment."""
        self.service_env = (
            {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
            | {
                "EXPSVC_DATABASE_URL": self.database_url(RUNTIME, *members),
                "EXPSVC_MIGRATION_DATABASE_URL": self.database_url(OWNER, *members),
                "EXPSVC_SECRET_KEYS": SECRET_KEY,
                "EXPSVC_HOST": "127.0.0.1",
                "EXPSVC_PORT": str(self.port),
                "EXPSVC_DATA_DIR": str(self.directory / "data"),
                "EXPSVC_RELAY_ENABLED": "false",
                "EXPSVC_LOG_LEVEL": "WARNING",
                "EXPSVC_DB_CONNECT_TIMEOUT": "1",
                "EXPSVC_RETRY_AFTER_SECONDS": "1",
                "EXPSVC_RELAY_METRICS_INTERVAL_SECONDS": "1",
            }
            | extra
        )
        primary = members[0]
        self.operator_env = self.service_env | {
            "PATH": f"{self._shims()}:{bindir()}:{Path(sys.executable).parent}:"
            + os.environ.get("PATH", "/usr/bin:/bin"),
            "EXPSVC_URL": self.url,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(primary.port),
            "PGUSER": "postgres",
            "PGDATABASE": DATABASE,
            "PGDATA": str(primary.pgdata),
            "PGCONNECT_TIMEOUT": "3",
        }

    def _shims(self) -> Path:
        """PostgreSQL's own commands run as its system user, as an operator would run them
        (``sudo -u postgres``); pg_ctl refuses root."""
        shims = self.directory / "shims"
        shims.mkdir(exist_ok=True)
        for program in ("pg_ctl", "pg_basebackup"):
            path = shims / program
            real = bindir() / program
            wrapper = f'exec "{real}" "$@"\n'
            if os.geteuid() == 0:
                wrapper = f'exec runuser -u postgres -- "{real}" "$@"\n'
            path.write_text("#!/bin/sh\n" + wrapper)
            path.chmod(0o755)
        return shims

    # the service's processes

    def spawn(self, name: str, *arguments: str, env: dict[str, str] | None = None) -> Process:
        log = self.directory / f"{name}-{len(self.processes)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "expsvc", *arguments],
                env=env or self.service_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.directory,
            )
        started = Process(name, process, log)
        self.processes.append(started)
        return started

    def serve(self) -> Process:
        serve = self.spawn("serve", "serve", "--workers", "1")
        poll(lambda: self.ready(serve), f"serve ready ({serve.output()})")
        return serve

    def worker(self) -> Process:
        return self.spawn("worker", "worker")

    def ready(self, serve: Process | None = None) -> bool:
        if serve is not None and not serve.alive():
            raise DrillFailed(f"serve exited:\n{serve.output()}")
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def metric(
        self, name: str, reduce: Callable[[list[float]], float] = sum, **labels: str
    ) -> float | None:
        """A sample of serve's /metrics (``reduce`` over the matching series), or None."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.TransportError:
            return None
        values: list[float] = []
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            series, _, value = line.rpartition(" ")
            rest = series[len(name) :]
            if rest and rest[0] not in "{":
                continue
            if all(f'{key}="{wanted}"' in rest for key, wanted in labels.items()):
                values.append(float(value))
        return reduce(values) if values else None

    def oldest_unpublished(self, sink: str | None = None) -> float:
        """Seconds the oldest event a sink (any sink) has not published has waited; from the
        database, as the runbook reads it (the metric lives only where a relay runs)."""
        where = "" if sink is None else f" WHERE sink = '{sink}'"
        age = self.psql(
            "SELECT coalesce(max(extract(epoch FROM now() - least("
            "(SELECT min(created_at) FROM outbox_events WHERE seq > c.last_seq), "
            "(SELECT min(created_at) FROM outbox_events WHERE seq IS NULL)))), 0) "
            f"FROM event_sink_cursors c{where}"
        )
        return float(age)

    def start_load(self) -> WriteLoad:
        self.load = WriteLoad(self.url).start()
        poll(lambda: self.load is not None and len(self.load.acknowledged) >= 3, "first writes")
        return self.load

    # the runbook's commands

    def shell(self, command: str, timeout: float = DEADLINE) -> CommandRun:
        """One of the runbook's commands, in bash, in the operator's environment."""
        output = self.directory / f"command-{len(self.transcript)}.out"
        started = time.monotonic()
        with output.open("wb") as sink:
            done = subprocess.run(
                ["/bin/bash", "-o", "pipefail", "-c", command],
                env=self.operator_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                cwd=self.directory,
            )
        run = CommandRun(
            command, done.returncode, output.read_text(errors="replace"), time.monotonic() - started
        )
        self.transcript.append(run)
        return run

    def psql(self, sql: str) -> str:
        """SQL as the operator (superuser) on the current PGHOST/PGPORT; must succeed."""
        run = self.shell(f"psql -X -A -t -v ON_ERROR_STOP=1 -c {shlex_quote(sql)}")
        if run.code:
            raise DrillFailed(f"psql failed: {run.output}")
        self.transcript.pop()  # the drill's own checks are not the runbook's commands
        return run.output.strip()


def shlex_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


@contextlib.contextmanager
def stage(template: Path) -> Iterator[Stage]:
    directory = Path(tempfile.mkdtemp(prefix="expsvc-drill-"))
    directory.chmod(directory.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    try:
        with clusters():
            world = Stage(template, directory)
            try:
                yield world
            finally:
                world.tear_down()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def started_by_commands(directory: Path) -> list[int]:
    """``expsvc`` processes the runbook's commands left running on this stage (a worker started
    with ``nohup``): those whose environment names the stage's data directory."""
    marker = f"EXPSVC_DATA_DIR={directory / 'data'}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            arguments = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            ours = any(word == b"expsvc" or word.endswith(b"/expsvc") for word in arguments)
            if ours and marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                found.append(int(entry))
    return found


# --- drills ------------------------------------------------------------------------------------


@dataclass
class Result:
    drill: str
    section: str
    detect: float  # seconds from the injection to the symptom seen
    diagnose: float  # the runbook's diagnosis commands
    fix: float  # the runbook's fix commands
    verify: float  # until the runbook's verification passed
    total: float  # injection to verified recovery
    first_write: float  # injection to the first write acknowledged after the fix
    acknowledged: int
    lost: int
    unavailable: int
    requests: int
    notes: str = ""

    def row(self) -> str:
        return (
            f"{self.drill:<20} {self.total:7.1f}s  detect {self.detect:5.1f}  diagnose "
            f"{self.diagnose:5.1f}  fix {self.fix:5.1f}  verify {self.verify:5.1f}  "
            f"write {self.first_write:5.1f}  acked {self.acknowledged:4d}  lost {self.lost}  "
            f"503/errors {self.unavailable}"
        )


class Drill:
    """One failure, injected under load and recovered by the runbook section's commands.

    Subclasses set the class attributes and implement :meth:`setup`, :meth:`inject` and
    :meth:`detected`; :meth:`run` does the rest the same way for every drill."""

    name: str = ""
    section: str = ""  # the runbook heading whose commands are run
    alerts: tuple[str, ...] = ()  # the alerts of rules.yml this failure raises
    injects: str = ""  # one line for the runbook's table
    shows: str = ""  # a regular expression the diagnosis output must match
    variables: frozenset[str] = frozenset()  # given to the commands beyond COMMON_VARIABLES
    ci: bool = False  # run end to end by tests/drills

    def setup(self, stage: Stage) -> None:
        """The usual stage: one primary, a serve and a worker on it."""
        primary = stage.cluster("primary")
        stage.configure(primary)
        stage.serve()
        stage.worker()

    def inject(self, stage: Stage) -> None:
        raise NotImplementedError

    def detected(self, stage: Stage) -> bool:
        raise NotImplementedError

    def repair(self, stage: Stage) -> None:
        """What someone else does between the diagnosis and our fix (a receiver's owner)."""

    def verified(self, stage: Stage) -> None:
        """Checks beyond the runbook's own verification (raise DrillFailed)."""

    def present(self, stage: Stage) -> set[str]:
        """Ids of the experiments in the service's database now."""
        return set(stage.psql("SELECT id FROM experiments").split())

    def expected(self, stage: Stage) -> set[str]:
        """Acknowledged writes that must be present after recovery."""
        assert stage.load is not None
        return set(stage.load.acknowledged)

    def notes(self, stage: Stage) -> str:
        return ""

    def steps(self) -> Steps:
        return steps(self.section)

    def run(self, stage: Stage) -> Result:
        commands = self.steps()
        self.setup(stage)
        load = stage.load or stage.start_load()
        time.sleep(STEADY_SECONDS)
        self.inject(stage)
        injected = time.monotonic()  # once the failure is in place (e.g. the upgrade done)
        detected = poll(lambda: self.detected(stage), f"{self.name}: the symptom")
        diagnosis = [stage.shell(command) for command in commands.diagnose]
        text = "\n".join(f"$ {run.command}\n{run.output}" for run in diagnosis)
        if not re.search(self.shows, text):
            raise DrillFailed(f"the diagnosis does not show /{self.shows}/:\n{text}")
        diagnosed = time.monotonic()
        self.repair(stage)
        for command in commands.fix:
            run = stage.shell(command)
            if run.code:
                raise DrillFailed(f"fix command failed ({run.code}): {command}\n{run.output}")
        fixed = time.monotonic()

        def verification_passes() -> bool:
            return all(stage.shell(command).code == 0 for command in commands.verify)

        verified = poll(verification_passes, f"{self.name}: the runbook's verification")
        poll(lambda: load.acknowledged_after(fixed) > 0, "a write after the fix")
        first_write = min(when for when in load.acknowledged.values() if when > fixed)
        self.verified(stage)
        time.sleep(STEADY_SECONDS)  # and the writes go on
        load.stop()
        if load.failures:
            raise DrillFailed(f"writes failed other than 503: {load.failures[:3]}")
        missing = self.expected(stage) - self.present(stage)
        return Result(
            drill=self.name,
            section=self.section,
            detect=detected - injected,
            diagnose=diagnosed - detected,
            fix=fixed - diagnosed,
            verify=verified - fixed,
            total=verified - injected,
            first_write=first_write - injected,
            acknowledged=len(load.acknowledged),
            lost=len(missing),
            unavailable=load.unavailable,
            requests=load.requests,
            notes=self.notes(stage),
        )
