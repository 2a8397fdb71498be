"""Demo data, generated inside PostgreSQL: a million runs take about two minutes, not hours.

Experiments are inserted from Python (few, varied); runs, their status history and capture
sessions are produced by one set-based statement per batch (``generate_series`` and
data-modifying CTEs), so no row crosses the wire. The data respects the lifecycle rules: runs in
a finished experiment are all ended, every non-draft run has the history rows of its path, and
capture sessions are running only under running runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from expsvc.db import create_engine
from expsvc.ids import new_id
from expsvc.models import experiments as experiments_table
from expsvc.settings import Settings

BATCH = 50_000
_TOPICS = ("resnet", "bert", "gpt", "vit", "xgboost", "lstm", "diffusion", "whisper")
_PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank")


@dataclass(frozen=True)
class SeedPlan:
    experiments: int = 20
    runs: int = 500
    capture_ratio: float = 0.3
    seed: int = 7


@dataclass
class SeedResult:
    experiments: int = 0
    runs: int = 0


def _uuid7(ts: str) -> str:
    """SQL for a UUIDv7 whose time part is ``ts`` (PostgreSQL 16 has no uuidv7())."""
    return (
        "encode(set_byte(overlay(uuid_send(gen_random_uuid()) placing "
        f"substring(int8send((extract(epoch FROM {ts}) * 1000)::bigint) FROM 3) FROM 1 FOR 6), "
        "6, (get_byte(uuid_send(gen_random_uuid()), 6) & 15) | 112), 'hex')::uuid"
    )


# One statement per batch. Experiments whose index is a multiple of 5 are finished: their runs
# only take terminal statuses. Times: created within 90 days, started minutes later, ended hours
# later, archived a day after that.
_RUN_BATCH_SQL = f"""
WITH src AS (
    SELECT g,
           (CAST(:experiment_ids AS uuid[]))[1 + g % :experiment_count] AS experiment_id,
           g % :experiment_count % 5 = 0 AS closed,
           now() - make_interval(secs => random() * 7776000) AS created,
           random() AS r, random() AS r2, random() AS r3
    FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
), shaped AS (
    SELECT *, CASE
        WHEN closed THEN (ARRAY['finished','finished','finished','failed','archived'])
                         [1 + floor(r * 5)::int]
        ELSE (ARRAY['draft','running','finished','finished','finished','finished','failed',
                    'failed','archived','running'])[1 + floor(r * 10)::int]
    END AS status
    FROM src
), timed AS (
    SELECT *,
        CASE WHEN status <> 'draft' THEN created + make_interval(mins => 1 + (r2 * 30)::int) END
            AS started,
        CASE WHEN status IN ('finished','failed','archived')
             THEN created + make_interval(hours => 1 + (r2 * 20)::int) END AS ended,
        -- The sensors of the run's capture session, if it has one (sorted: runs.sensors is).
        CASE WHEN status <> 'draft' AND r3 < :capture_ratio
             THEN ARRAY['cam-' || (abs(hashtext(g::text)) % 20),
                        'imu-' || (abs(hashtext(g::text)) % 50)]
             ELSE '{{}}'::text[] END AS sensors
    FROM shaped
), runs_in AS (
    INSERT INTO runs (id, experiment_id, name, status, tags, params, participants, git_sha,
                      git_branch, git_repository, failure_reason, created_by, created_at,
                      updated_at, started_at, finished_at, archived_at, last_heartbeat_at,
                      version, sensors)
    SELECT {_uuid7("created")}, experiment_id,
           (ARRAY{list(_TOPICS)})[1 + g % {len(_TOPICS)}] || '-run-' || g,
           status,
           string_to_array((ARRAY['baseline,gpu', 'sweep,gpu', 'ablation,cpu', 'nightly,prod',
                                   'prod,v2'])[1 + g % 5], ','),
           jsonb_build_object('lr', round((r2 / 100)::numeric, 6), 'batch', 32 << (g % 3)::int,
                              'epochs', 1 + g % 50,
                              'optimizer', (ARRAY['adam','sgd','adamw','lion'])[1 + g % 4])
               || CASE WHEN g % 10 = 0 THEN jsonb_build_object('seed', g % 1000)
                       ELSE '{{}}'::jsonb END,
           -- The creator, and every third run a second participant.
           CASE WHEN g % 3 = 0
                THEN ARRAY[(ARRAY{list(_PEOPLE)})[1 + g % {len(_PEOPLE)}],
                           'guest-' || (g % 997)]
                ELSE ARRAY[(ARRAY{list(_PEOPLE)})[1 + g % {len(_PEOPLE)}]] END,
           substr(md5(g::text), 1, 40),
           -- Most runs on a few long-lived branches, the rest on one of 500 feature branches.
           CASE WHEN g % 10 < 7 THEN (ARRAY['main','dev','release'])[1 + g % 3]
                ELSE 'feature/' || (ARRAY{list(_TOPICS)})[1 + g % {len(_TOPICS)}] || '-'
                     || (g % 500) END,
           'https://git.example/ml/' || (ARRAY{list(_TOPICS)})[1 + g % {len(_TOPICS)}],
           CASE WHEN status = 'failed' THEN 'exit code 137' END,
           (ARRAY{list(_PEOPLE)})[1 + g % {len(_PEOPLE)}],
           created, coalesce(ended, started, created), started,
           CASE WHEN status = 'archived' THEN ended - interval '1 minute' ELSE ended END,
           CASE WHEN status = 'archived' THEN ended END,
           CASE WHEN status = 'running' THEN now() - make_interval(secs => r2 * 60) END,
           CASE status WHEN 'draft' THEN 1 WHEN 'running' THEN 2 WHEN 'archived' THEN 4
                       ELSE 3 END,
           sensors
    FROM timed
    RETURNING id, status, created_by, started_at, finished_at, archived_at, sensors
), run_history AS (
    INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor, reason,
                                source, created_at)
    SELECT 'run', r.id, h.from_status, h.to_status, r.created_by, h.reason, 'user', h.at
    FROM runs_in r
    CROSS JOIN LATERAL (VALUES
        ('draft', 'running', r.started_at, NULL),
        ('running', CASE WHEN r.status = 'failed' THEN 'failed' ELSE 'finished' END,
         r.finished_at, CASE WHEN r.status = 'failed' THEN 'exit code 137' END),
        ('finished', 'archived', r.archived_at, NULL)
    ) AS h(from_status, to_status, at, reason)
    WHERE h.at IS NOT NULL
), captures_in AS (
    INSERT INTO capture_sessions (id, run_id, capture_session_id, status, sensors, created_by,
                                  created_at, updated_at, started_at, finished_at,
                                  last_telemetry_at, version)
    SELECT {_uuid7("r.started_at")}, r.id, 'cap-' || r.id::text,
           CASE WHEN r.status = 'running' THEN 'running' ELSE 'finished' END,
           r.sensors,
           r.created_by, r.started_at, r.started_at, r.started_at,
           CASE WHEN r.status <> 'running' THEN coalesce(r.finished_at, r.archived_at) END,
           CASE WHEN r.status = 'running' THEN now() END,
           CASE WHEN r.status = 'running' THEN 2 ELSE 3 END
    FROM runs_in r
    -- runs.sensors is already the session's: the capture trigger finds nothing to change.
    WHERE cardinality(r.sensors) > 0
    RETURNING id, status, created_by, started_at, finished_at
)
INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor, source,
                            created_at)
SELECT 'capture', c.id, h.from_status, h.to_status, c.created_by, 'user', h.at
FROM captures_in c
CROSS JOIN LATERAL (VALUES ('draft', 'running', c.started_at),
                           ('running', 'finished', c.finished_at)) AS h(from_status, to_status, at)
WHERE h.at IS NOT NULL
"""  # noqa: S608 - only constants are interpolated; values are bound parameters


def experiment_rows(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Experiment ``i`` is finished when ``i % 5 == 0`` (matching the run batch SQL)."""
    now = datetime.now(UTC)
    rows = []
    for index in range(count):
        closed = index % 5 == 0
        created = now - timedelta(days=91, minutes=rng.randint(0, 60 * 24))
        rows.append(
            {
                "id": new_id(),
                "name": f"{rng.choice(_TOPICS)}-{index:05d}",
                "description": "seeded demo experiment",
                "status": "finished" if closed else "running",
                "tags": sorted(rng.sample(("baseline", "prod", "sweep", "nightly"), 2)),
                "params": {"dataset": rng.choice(("imagenet", "coco", "librispeech"))},
                "participants": sorted(rng.sample(_PEOPLE, 2)),
                "created_by": rng.choice(_PEOPLE),
                "created_at": created,
                "updated_at": created,
                "started_at": created + timedelta(minutes=1),
                "finished_at": now if closed else None,
                "version": 3 if closed else 2,
            }
        )
    return rows


async def _insert_experiments(connection: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await connection.execute(insert(experiments_table), rows)
    # Their creators own them, as the API would have made them (ADR 0013).
    await connection.execute(
        text(
            "INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by, granted_at)"
            " VALUES (:id, 'principal:' || :created_by, 'owner', :created_by, :created_at)"
        ),
        [{key: row[key] for key in ("id", "created_by", "created_at")} for row in rows],
    )
    history = [
        {"entity_type": "experiment", "entity_id": row["id"], "from_status": f, "to_status": t,
         "actor": row["created_by"], "source": "user", "created_at": at}
        for row in rows
        for f, t, at in (("draft", "running", row["started_at"]),
                         ("running", "finished", row["finished_at"]))
        if at is not None
    ]  # fmt: skip
    await connection.execute(
        text(
            "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
            " source, created_at) VALUES (:entity_type, :entity_id, :from_status, :to_status,"
            " :actor, :source, :created_at)"
        ),
        history,
    )


async def seed_demo_data(
    settings: Settings,
    url: str,
    plan: SeedPlan,
    progress: Callable[[int], None] = lambda _: None,
) -> SeedResult:
    """Insert ``plan``'s data, committing per batch; ``progress`` gets the runs added so far."""
    result = SeedResult()
    if plan.experiments == 0:
        return result
    rows = experiment_rows(plan.experiments, random.Random(plan.seed))
    engine = create_engine(settings, url)
    try:
        async with engine.begin() as connection:
            await _insert_experiments(connection, rows)
        result.experiments = len(rows)
        ids = [str(row["id"]) for row in rows]
        for first in range(0, plan.runs, BATCH):
            last = min(first + BATCH, plan.runs) - 1
            async with engine.begin() as connection:
                # Reproducible per (seed, batch), yet different from one batch to the next.
                batch_seed = (plan.seed * 7919 + first // BATCH) % 2000 / 1000 - 1
                await connection.execute(text("SELECT setseed(:s)"), {"s": batch_seed})
                # A batch maintains every index of 50,000 runs: longer than a request may take.
                await connection.execute(text("SET LOCAL statement_timeout = 0"))
                await connection.execute(
                    text(_RUN_BATCH_SQL),
                    {"experiment_ids": ids, "experiment_count": len(ids), "first": first,
                     "last": last, "capture_ratio": plan.capture_ratio},
                )  # fmt: skip
            result.runs = last + 1
            progress(result.runs)
    finally:
        await engine.dispose()
    return result
