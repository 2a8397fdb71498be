"""What one statement costs our process on each layer of the data path (issue 10's next step).

The same read, ``GET /v1/runs/{id}``'s statement (the run, if the caller may read it), run one
at a time on a pooled connection, three ways:

* ``session``: what the service does today, ``RunRepository.get_readable`` on an
  ``AsyncSession`` from the service's own ``Database`` (autocommit, as reads run);
* ``connection``: the same repository call on a Core ``AsyncConnection`` (no ORM session);
* ``asyncpg``: the statement's SQL text, compiled once, on an asyncpg pool.

It prints the process CPU and the wall time per statement of each, in rounds that alternate
the three, against a scratch database (migrated, a few thousand seeded runs, dropped after)::

    python bench/statement_overhead.py [--server-url postgresql://postgres@127.0.0.1:5432/postgres]

Run it on a quiet machine (``../shared/tools/quiet-run``): CPU time is less sensitive to load
than wall time, not immune to it.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy.dialects import postgresql

from expsvc.auth.access import access_parameters
from expsvc.auth.principal import LOCAL_PRINCIPAL
from expsvc.db import Database, create_engine, plain_database_url
from expsvc.repository import _readable_by_id
from expsvc.run.repository import RunRepository
from expsvc.secret.keys import generate_key
from expsvc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _expsvc(database_url: str, *args: str) -> None:
    env = {"EXPSVC_DATABASE_URL": database_url, "EXPSVC_SECRET_KEYS": generate_key()}
    subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "expsvc", *args],
        env={**env, "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
    )


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def measure(database_url: str, statements: int, rounds: int) -> None:
    settings = Settings(database_url=database_url, secret_keys=generate_key())  # type: ignore[arg-type]
    engine = create_engine(settings, database_url)
    database = Database(engine)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    pool = await asyncpg.create_pool(plain_database_url(database_url), min_size=1, max_size=1)
    assert pool is not None
    try:
        async with pool.acquire() as connection:
            rows = await connection.fetch(
                "SELECT id FROM runs ORDER BY random() LIMIT $1", statements
            )
        ids = [uuid.UUID(str(row["id"])) for row in rows]
        statement = _readable_by_id(RunRepository)
        compiled = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
        parameters = {"id": None, **access_parameters(LOCAL_PRINCIPAL)}
        order = list(compiled.positiontup or ())

        async def via_session() -> None:
            for run_id in ids:
                async with database.read_sessionmaker() as session:
                    assert await RunRepository(session).get_readable(run_id, LOCAL_PRINCIPAL)

        async def via_connection() -> None:
            for run_id in ids:
                async with autocommit.connect() as connection:
                    assert await RunRepository(connection).get_readable(  # type: ignore[arg-type]
                        run_id, LOCAL_PRINCIPAL
                    )

        async def via_asyncpg() -> None:
            for run_id in ids:
                values = {**parameters, "id": run_id}
                async with pool.acquire() as connection:
                    assert await connection.fetchrow(compiled.string, *(values[n] for n in order))

        ways: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("session", via_session),
            ("connection", via_connection),
            ("asyncpg", via_asyncpg),
        ]
        for _name, way in ways:  # warm every cache once
            await way()
        cpu: dict[str, list[float]] = {name: [] for name, _ in ways}
        wall: dict[str, list[float]] = {name: [] for name, _ in ways}
        for _ in range(rounds):
            for name, way in ways:
                started, started_cpu = time.perf_counter(), time.process_time()
                await way()
                cpu[name].append((time.process_time() - started_cpu) / len(ids) * 1e6)
                wall[name].append((time.perf_counter() - started) / len(ids) * 1e6)
        print(f"{len(ids)} statements x {rounds} rounds; median per statement")
        print("| path | process CPU µs | wall µs |")
        print("| --- | ---: | ---: |")
        for name, _ in ways:
            median_cpu, median_wall = (
                sorted(cpu[name])[rounds // 2],
                sorted(wall[name])[rounds // 2],
            )
            print(f"| {name} | {median_cpu:.0f} | {median_wall:.0f} |")
    finally:
        await pool.close()
        await database.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    name = f"expsvc_overhead_{uuid.uuid4().hex[:8]}"
    server = plain_database_url(args.server_url)
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    database_url = server.rsplit("/", 1)[0] + "/" + name
    try:
        _expsvc(database_url, "db", "upgrade")
        _expsvc(database_url, "seed", "--experiments", "10", "--runs", str(args.statements * 2))
        asyncio.run(measure(database_url, args.statements, args.rounds))
    finally:
        asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
