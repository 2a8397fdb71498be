"""Liveness, readiness and Prometheus metrics. Not versioned: these are for the platform."""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from expsvc import __version__
from expsvc.db import Database
from expsvc.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, Problem
from expsvc.release.schema import SchemaExpectation, SchemaReport

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: str
    version: str


class ReadinessFields(BaseModel):
    """What readiness reports, in the 200 body and the 503 problem alike."""

    version: str = Field(description="This process's release: X.Y.Z, or X.Y.Z.devN before it.")
    schema_revision: str | None = Field(description="The database's schema revision.")
    expected_schema_revision: str = Field(description="This release's schema head.")
    oldest_schema_revision: str = Field(
        description="The oldest schema revision this release runs on."
    )
    schema_release: str | None = Field(
        description="When the database is ahead of this release: the release that migrated it."
    )
    schema_oldest_compatible_release: str | None = Field(
        description="When the database is ahead of this release: the oldest release it supports."
    )
    checks: dict[str, str] = Field(
        description=(
            "database: ok or unreachable: <error>. schema: ok, behind-compatible or "
            "ahead-compatible (ready); behind, ahead-incompatible, missing or unknown (not ready)."
        )
    )


class _Status(BaseModel):
    status: str


# pydantic orders fields from the last base to the first: status, then what was checked.
class Readiness(ReadinessFields, _Status):
    pass


class NotReady(ReadinessFields, Problem):
    """The 503 readiness problem: the problem members plus what was checked."""


@router.get("/health/live", operation_id="get_liveness")
async def live() -> Liveness:
    """The process is up and its event loop answers."""
    return Liveness(status="ok", version=__version__)


async def _check(request: Request) -> tuple[Readiness, str]:
    """The readiness body and, when not ready, why (the problem's detail)."""
    database: Database = request.app.state.database
    expected: SchemaExpectation = request.app.state.schema
    report: SchemaReport | None = None
    try:
        async with (
            asyncio.timeout(request.app.state.settings.db_connect_timeout),
            database.engine.connect() as connection,
        ):
            report = await expected.read(connection)
    except Exception as error:
        checks = {"database": f"unreachable: {type(error).__name__}", "schema": "unknown"}
        why = f"database: {checks['database']}"
    else:
        checks = {"database": "ok", "schema": report.state.value}
        why = f"schema: {report.state.value} ({expected.explain(report)})"
    ready = report is not None and report.state.ready
    recorded = report.recorded if report is not None else None
    readiness = Readiness(
        status="ok" if ready else "unavailable",
        version=__version__,
        schema_revision=report.revision if report is not None else None,
        expected_schema_revision=expected.head,
        oldest_schema_revision=expected.oldest,
        schema_release=recorded.release if recorded is not None else None,
        schema_oldest_compatible_release=(
            recorded.oldest_compatible_release if recorded is not None else None
        ),
        checks=checks,
    )
    return readiness, why


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
    """Database reachable and its schema one this release runs on (docs/runbook.md)."""
    readiness, why = await _check(request)
    if readiness.status == "ok":
        return Response(readiness.model_dump_json(), media_type="application/json")
    problem = readiness.model_dump() | {
        "type": PROBLEM_BASE + "not-ready",
        "title": "Service not ready",
        "status": 503,
        "detail": why,
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
