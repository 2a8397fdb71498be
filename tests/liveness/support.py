"""Stuck runs made directly in the database (the API cannot backdate), and row counts."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

FAIL_HISTORY = (
    "SELECT count(*) FROM status_history WHERE entity_type = 'run' AND to_status = 'failed'"
)


async def fetch(database_url: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def execute(database_url: str, script: str) -> None:
    """Run SQL statements (several allowed: no parameters)."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(script)
    finally:
        await connection.close()


async def insert_running_runs(
    database_url: str,
    count: int,
    *,
    started_ago: float = 3600,
    heartbeat_ago: float | None = None,
    experiment_id: uuid.UUID | None = None,
    **run_columns: object,
) -> list[uuid.UUID]:
    """``count`` running runs started ``started_ago`` seconds ago, last beating
    ``heartbeat_ago`` seconds ago (None: never), in a new running experiment unless given."""
    connection = await asyncpg.connect(database_url)
    try:
        if experiment_id is None:
            experiment_id = uuid.uuid4()
            await connection.execute(
                "INSERT INTO experiments (id, name, status, created_by, started_at)"
                " VALUES ($1, 'stuck', 'running', 'test', now())",
                experiment_id,
            )
        names = ", ".join(run_columns)
        values = "".join(f", ${i + 5}" for i in range(len(run_columns)))
        rows = await connection.fetch(
            f"""
            INSERT INTO runs (id, experiment_id, name, status, created_by, created_at,
                              started_at, last_heartbeat_at{", " + names if names else ""})
            SELECT gen_random_uuid(), $1, 'run-' || i, 'running', 'test',
                   -- created when it started: a run starts no earlier (migration 0026)
                   now() - make_interval(secs => $2), now() - make_interval(secs => $2),
                   now() - make_interval(secs => $3){values}
            FROM generate_series(1, $4::int) AS i
            RETURNING id
            """,  # noqa: S608 - column names are the test's own
            experiment_id,
            started_ago,
            heartbeat_ago,
            count,
            *run_columns.values(),
        )
        return [row["id"] for row in rows]
    finally:
        await connection.close()


async def run_row(database_url: str, run_id: uuid.UUID) -> dict[str, Any]:
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
        assert row is not None
        return dict(row)
    finally:
        await connection.close()
