"""Liveness, readiness and Prometheus metrics. Not versioned: these are for the platform."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from expsvc import __version__
from expsvc.db import Database
from expsvc.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, Problem
from expsvc.migrate import current_revision

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    version: str
    schema_revision: str | None
    expected_schema_revision: str
    checks: dict[str, str]


class NotReady(Problem):
    """The 503 readiness problem: the problem members plus what was checked."""

    version: str
    schema_revision: str | None
    expected_schema_revision: str
    checks: dict[str, str]


@router.get("/health/live", operation_id="get_liveness")
async def live() -> Liveness:
    """The process is up and its event loop answers."""
    return Liveness(status="ok", version=__version__)


async def _check(request: Request) -> Readiness:
    database: Database = request.app.state.database
    head: str = request.app.state.schema_head
    revision: str | None = None
    checks: dict[str, str] = {}
    try:
        async with (
            asyncio.timeout(request.app.state.settings.db_connect_timeout),
            database.engine.connect() as connection,
        ):
            revision = await current_revision(connection)
        checks["database"] = "ok"
        checks["schema"] = "ok" if revision == head else "behind" if revision else "missing"
    except Exception as error:
        checks["database"] = f"unreachable: {type(error).__name__}"
        checks["schema"] = "unknown"
    ok = all(value == "ok" for value in checks.values())
    return Readiness(
        status="ok" if ok else "unavailable",
        version=__version__,
        schema_revision=revision,
        expected_schema_revision=head,
        checks=checks,
    )


@router.get(
    "/health/ready",
    operation_id="get_readiness",
    responses={
        200: {"model": Readiness, "description": "Ready"},
        503: {
            "model": NotReady,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": "Not ready; see checks. Retry after Retry-After seconds.",
        },
    },
)
async def ready(request: Request) -> Response:
    """Database reachable and its schema at the revision this release expects."""
    readiness = await _check(request)
    if readiness.status == "ok":
        return Response(readiness.model_dump_json(), media_type="application/json")
    problem = readiness.model_dump() | {
        "type": PROBLEM_BASE + "not-ready",
        "title": "Service not ready",
        "status": 503,
        "detail": "; ".join(f"{k}: {v}" for k, v in readiness.checks.items() if v != "ok"),
        "instance": request.url.path,
    }
    return Response(
        orjson.dumps(problem),
        status_code=503,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"Retry-After": str(request.app.state.settings.retry_after_seconds)},
    )


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format",
        }
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus exposition format."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
