"""The ceiling of our stack: bare FastAPI + asyncpg on uvicorn, no ORM, no middleware.

DESIGN.md quotes its figures on this machine (about 5,500 get-by-id/s and 2,500 creates/s under
wrk, 2 workers); bench/run.py measures it again in the same run as the service, against the same
database, so the comparison holds even on a busy machine. A get is one round trip; a create is
one transaction of three inserts (the run, a status-history row, an outbox row), as in the
service. Run it with:

    EXPSVC_REFERENCE_DATABASE_URL=postgresql://... \\
        uvicorn reference_app:app --app-dir bench --workers 2 --no-access-log
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response

_GET = "SELECT * FROM runs WHERE id = $1"
_INSERT_RUN = """
INSERT INTO runs (id, experiment_id, name, status, tags, params, participants, git_sha,
                  created_by, created_at, updated_at, version)
VALUES ($1, $2, $3, 'draft', $4, $5, '{}', $6, 'anonymous', now(), now(), 1)
RETURNING *
"""
_INSERT_HISTORY = """
INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor, source)
VALUES ('run', $1, 'draft', 'draft', 'anonymous', 'user')
"""
_INSERT_OUTBOX = """
INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)
VALUES ($1, 'run.created', 'run', $2, now(), $3)
"""


async def _init(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["EXPSVC_REFERENCE_DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(url, min_size=4, max_size=20, init=_init)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


def _json(row: asyncpg.Record, status: int = 200) -> Response:
    body = orjson.dumps(dict(row), default=str)
    return Response(body, status_code=status, media_type="application/json")


@app.get("/v1/runs/{run_id}")
async def get_run(run_id: uuid.UUID, request: Request) -> Response:
    row = await request.app.state.pool.fetchrow(_GET, run_id)
    if row is None:
        return Response(status_code=404)
    return _json(row)


@app.post("/v1/experiments/{experiment_id}/runs")
async def create_run(experiment_id: uuid.UUID, request: Request) -> Response:
    body: dict[str, Any] = orjson.loads(await request.body())
    run_id = uuid.uuid4()
    async with request.app.state.pool.acquire() as connection, connection.transaction():
        row = await connection.fetchrow(
            _INSERT_RUN,
            run_id,
            experiment_id,
            body["name"],
            body.get("tags", []),
            body.get("params", {}),
            body.get("git_sha"),
        )
        await connection.execute(_INSERT_HISTORY, run_id)
        await connection.execute(_INSERT_OUTBOX, uuid.uuid4(), run_id, {"id": str(run_id)})
    return _json(row, 201)
