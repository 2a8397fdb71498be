"""``expsvc serve`` as a real process: embedded PostgreSQL, data dir lock, restarts, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from expsvc.migrate import downgrade, head_revision
from tests.conftest import OWNER_ROLE, TEST_SECRET_KEY, role_url, runtime_url

pytestmark = pytest.mark.process

START_DEADLINE = 60.0
STOP_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The caller's environment without any EXPSVC_ setting, plus these."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EXPSVC_")}
    env |= {"EXPSVC_DATA_DIR": str(data_dir), "EXPSVC_PORT": str(port), "EXPSVC_LOG_LEVEL": "INFO"}
    return env | extra


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_answering(self, *statuses: int) -> httpx.Response:
        """Poll /health/ready until it answers one of these statuses."""
        until = time.monotonic() + START_DEADLINE
        last: object = None
        while time.monotonic() < until:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                response = httpx.get(f"{self.base_url}/health/ready", timeout=5)
            except httpx.TransportError as error:
                last = error
            else:
                if response.status_code in statuses:
                    return response
                last = response.text
            time.sleep(0.1)
        pytest.fail(f"/health/ready never answered {statuses} (last: {last}):\n{self.output()}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_DEADLINE)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_DEADLINE)


Spawn = Callable[..., Serve]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Starts ``python -m expsvc serve`` processes; kills every one of them afterwards."""
    started: list[Serve] = []

    def start(env: dict[str, str], *args: str) -> Serve:
        log = tmp_path / f"serve-{len(started)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "expsvc", "serve", *args],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        serve = Serve(process, f"http://127.0.0.1:{env['EXPSVC_PORT']}", log)
        started.append(serve)
        return serve

    try:
        yield start
    finally:
        for serve in started:
            serve.kill()


def stop_embedded_postgres(pgdata: Path) -> None:
    """Teardown safety net: a test that failed half-way must not leave PostgreSQL running."""
    if not (pgdata / "postmaster.pid").exists():
        return
    from pgserver._commands import pg_ctl

    user = "pgserver" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    try:
        yield path
    finally:
        stop_embedded_postgres(path / "postgres")


AUDIT_WARNING = "audit log is append-only only as long as"


async def _service_roles(url: str) -> list[tuple[str, bool]]:
    """The roles of the service's connections to ``url``'s database, and whether superusers."""
    connection = await asyncpg.connect(url)
    try:
        records = await connection.fetch(
            "SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a "
            "JOIN pg_roles r ON r.rolname = a.usename "
            "WHERE a.datname = current_database() AND a.application_name = 'expsvc'"
        )
        return [(record["usename"], record["rolsuper"]) for record in records]
    finally:
        await connection.close()


def service_roles(url: str) -> list[tuple[str, bool]]:
    return asyncio.run(_service_roles(url))


def embedded_superuser_url(data_dir: Path) -> str:
    """The embedded server's superuser, on its socket (postmaster.pid's fifth line)."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres@/expsvc?host={lines[4]}&port={lines[3]}"


# Never contacted: no event happens after it is created.
HOOK = {"url": "http://93.184.215.14/hooks"}
HOOK_KEY = {"Idempotency-Key": "h"}


def test_embedded_serve_locks_its_data_dir_and_keeps_data_across_restarts(
    spawn: Spawn, data_dir: Path
) -> None:
    env = service_env(data_dir, free_port())
    first = spawn(env)
    ready = first.wait_answering(200).json()
    assert ready["schema_revision"] == head_revision()

    created = httpx.post(f"{first.base_url}/v1/experiments", json={"name": "durable"}, timeout=10)
    assert created.status_code == 201, created.text
    # Zero configuration: a key of its own in the data dir seals the stored webhook answer.
    hook = httpx.post(f"{first.base_url}/v1/webhooks", json=HOOK, headers=HOOK_KEY, timeout=10)
    assert hook.status_code == 201, hook.text
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    # Served as the runtime role, not the superuser that runs the embedded server.
    assert service_roles(embedded_superuser_url(data_dir)) == [("expsvc_runtime", False)]
    assert AUDIT_WARNING not in first.output()

    second = subprocess.run(
        [sys.executable, "-m", "expsvc", "serve"],
        env=service_env(data_dir, free_port()),
        capture_output=True,
        timeout=START_DEADLINE,
        check=False,
    )
    assert second.returncode != 0
    message = second.stderr.decode()
    assert str(data_dir) in message
    assert "in use" in message
    assert "Traceback" not in message
    assert first.process.poll() is None, "the refused second serve must not disturb the first"

    assert first.terminate() == 0, first.output()
    # A clean shutdown also stops the embedded PostgreSQL; it removes postmaster.pid on exit.
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), first.output()

    again = spawn(env)
    again.wait_answering(200)
    fetched = httpx.get(f"{again.base_url}/v1/experiments/{created.json()['id']}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created.json()
    # The same key after the restart: the sealed answer replays.
    replayed = httpx.post(f"{again.base_url}/v1/webhooks", json=HOOK, headers=HOOK_KEY, timeout=10)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == hook.content
    assert again.terminate() == 0, again.output()


def test_serve_on_a_database_behind_head_is_not_ready_until_migrated(
    spawn: Spawn, data_dir: Path, database_url: str
) -> None:
    downgrade(database_url, "base")  # a sync test: no event loop to keep free
    env = service_env(
        data_dir,
        free_port(),
        EXPSVC_DATABASE_URL=database_url,
        EXPSVC_SECRET_KEYS=TEST_SECRET_KEY,
    )

    unmigrated = spawn(env)
    response = unmigrated.wait_answering(200, 503)
    assert response.status_code == 503, response.text
    assert response.json()["checks"]["schema"] == "missing"
    refused = httpx.post(f"{unmigrated.base_url}/v1/experiments", json={"name": "x"}, timeout=10)
    assert refused.status_code >= 500
    assert refused.headers["content-type"] == "application/problem+json"
    assert unmigrated.terminate() == 0, unmigrated.output()
    assert not (data_dir / "postgres").exists(), "an external database needs no embedded one"

    migrated = spawn(env, "--migrate")
    body = migrated.wait_answering(200).json()
    assert body["schema_revision"] == head_revision()
    created = httpx.post(f"{migrated.base_url}/v1/experiments", json={"name": "x"}, timeout=10)
    assert created.status_code == 201, created.text
    assert migrated.terminate() == 0, migrated.output()
    # One superuser URL for everything: it works, and start-up says what that costs.
    assert AUDIT_WARNING in migrated.output()
    assert "is a superuser" in migrated.output()


def test_serve_migrates_as_the_owner_and_serves_as_the_runtime_role(
    spawn: Spawn, data_dir: Path, database_url: str
) -> None:
    downgrade(role_url(database_url, OWNER_ROLE), "base")
    env = service_env(
        data_dir,
        free_port(),
        EXPSVC_DATABASE_URL=runtime_url(database_url),
        EXPSVC_MIGRATION_DATABASE_URL=role_url(database_url, OWNER_ROLE),
        EXPSVC_SECRET_KEYS=TEST_SECRET_KEY,
    )
    serve = spawn(env, "--migrate")
    assert serve.wait_answering(200).json()["schema_revision"] == head_revision()
    created = httpx.post(f"{serve.base_url}/v1/experiments", json={"name": "x"}, timeout=10)
    assert created.status_code == 201, created.text
    assert service_roles(database_url) == [("expsvc_runtime", False)]
    assert serve.terminate() == 0, serve.output()
    assert AUDIT_WARNING not in serve.output()
