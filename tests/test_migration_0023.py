"""Migration 0023: runs.sensors, the union of a run's capture sessions' sensors. The upgrade
backfills existing runs in batches without rewriting the table and builds the GIN; from then on
the triggers keep the column true for writes that do not know it (the previous release's: plain
inserts and updates of capture_sessions); the downgrade drops it all."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.db import async_database_url
from expsvc.migrate import downgrade, upgrade
from expsvc.models import Base

_EXPERIMENT = "INSERT INTO experiments (id, name, created_by) VALUES ($1, 'e', 'carol')"
_RUN = "INSERT INTO runs (id, experiment_id, name, created_by) VALUES ($1, $2, 'r', 'carol')"
# As the previous release writes a session: it names no runs.sensors.
_CAPTURE = (
    "INSERT INTO capture_sessions (id, run_id, capture_session_id, sensors, created_by)"
    " VALUES (gen_random_uuid(), $1, gen_random_uuid()::text, $2, 'carol') RETURNING id"
)


async def _sql(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def _do(url: str, statement: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(_sql(url, statement, *args))


def _sensors(url: str) -> dict[uuid.UUID, list[str]]:
    return {row["id"]: row["sensors"] for row in _do(url, "SELECT id, sensors FROM runs")}


async def _many(url: str, statement: str, rows: list[tuple[Any, ...]]) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.executemany(statement, rows)
    finally:
        await connection.close()


def _runs(url: str, count: int) -> list[uuid.UUID]:
    experiment = uuid.uuid4()
    _do(url, _EXPERIMENT, experiment)
    ids = sorted(uuid.uuid4() for _ in range(count))
    asyncio.run(_many(url, _RUN, [(run_id, experiment) for run_id in ids]))
    return ids


def _model_differences(url: str) -> list[Any]:
    """How the models differ from the database in runs.sensors and its index."""

    def read(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return [
            d
            for d in compare_metadata(context, Base.metadata)
            if "ix_runs_sensors" in repr(d) or ("'runs'" in repr(d) and "sensors" in repr(d))
        ]

    async def run() -> list[Any]:
        engine = create_async_engine(async_database_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_the_upgrade_backfills_every_run_in_place_and_indexes_the_column(
    database_url: str,
) -> None:
    downgrade(database_url, "0022")
    # More runs with sensors than one backfill batch (1,000), and a run with none.
    ids = _runs(database_url, 1203)
    rows = [(run_id, [f"imu-{index % 7}", "cam"]) for index, run_id in enumerate(ids[:-1])]
    asyncio.run(_many(database_url, _CAPTURE.removesuffix(" RETURNING id"), rows))
    _do(database_url, _CAPTURE, ids[0], ["lidar", "cam"])
    _do(database_url, _CAPTURE, ids[1], [])
    (before,) = _do(database_url, "SELECT relfilenode FROM pg_class WHERE oid = 'runs'::regclass")

    upgrade(database_url)
    (after,) = _do(database_url, "SELECT relfilenode FROM pg_class WHERE oid = 'runs'::regclass")
    assert after["relfilenode"] == before["relfilenode"]  # no rewrite
    sensors = _sensors(database_url)
    assert sensors[ids[0]] == ["cam", "imu-0", "lidar"]
    assert sensors[ids[1]] == ["cam", "imu-1"]
    assert sensors[ids[1201]] == ["cam", f"imu-{1201 % 7}"]  # in the second batch
    assert sensors[ids[-1]] == []
    assert all(sensors[run_id] == ["cam", f"imu-{i % 7}"] for i, run_id in enumerate(ids[2:-1], 2))
    (index,) = _do(
        database_url,
        "SELECT indisvalid, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
        " WHERE indexrelid = 'ix_runs_sensors'::regclass",
    )
    assert index["indisvalid"]
    assert "USING gin (sensors)" in index["definition"]
    assert _model_differences(database_url) == []

    downgrade(database_url, "0022")
    columns = _do(
        database_url,
        "SELECT attname FROM pg_attribute WHERE attrelid = 'runs'::regclass"
        " AND attname = 'sensors' AND NOT attisdropped",
    )
    assert columns == []
    _do(database_url, _CAPTURE, ids[-1], ["gps"])  # no trigger left behind


def test_the_triggers_keep_the_column_true_for_writes_that_do_not_know_it(
    database_url: str,
) -> None:
    first, second = _runs(database_url, 2)
    (capture,) = _do(database_url, _CAPTURE, first, ["imu", "cam"])
    _do(database_url, _CAPTURE, first, ["imu"])
    assert _sensors(database_url) == {first: ["cam", "imu"], second: []}

    # The sensors change: removed ones leave the run unless another session has them.
    _do(database_url, "UPDATE capture_sessions SET sensors = '{gps}' WHERE id = $1", capture["id"])
    assert _sensors(database_url) == {first: ["gps", "imu"], second: []}
    # The session moves to another run.
    move = "UPDATE capture_sessions SET run_id = $2 WHERE id = $1"
    _do(database_url, move, capture["id"], second)
    assert _sensors(database_url) == {first: ["imu"], second: ["gps"]}
    # A change that leaves sensors and run alone does not touch the run (no new row version).
    (version,) = _do(database_url, "SELECT xmin::text AS x FROM runs WHERE id = $1", second)
    _do(database_url, "UPDATE capture_sessions SET status = 'running' WHERE id = $1", capture["id"])
    _do(database_url, _CAPTURE, second, ["gps"])  # a sensor the run has already
    assert _do(database_url, "SELECT xmin::text AS x FROM runs WHERE id = $1", second) == [version]
    _do(database_url, "DELETE FROM capture_sessions WHERE run_id = $1", first)
    assert _sensors(database_url) == {first: [], second: ["gps"]}
