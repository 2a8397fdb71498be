"""``GET /v1/runs/export`` and ``GET /v1/experiments/export``: a list's selection, streamed.

Included before the run and experiment routers, so ``/v1/runs/export`` is not taken for
``/v1/runs/{run_id}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from expsvc.context import CurrentContext
from expsvc.errors import ValidationFailed, problem_responses
from expsvc.export.capacity import ExportCapacityExhausted
from expsvc.export.route import ExportRoute
from expsvc.export.schemas import ExperimentExport, RunExport
from expsvc.export.service import Export, ExportService
from expsvc.filtering.language import (
    FilterTooComplex,
    InvalidFilter,
    InvalidFilterValue,
    UnknownFilterField,
)
from expsvc.routing import DbSession

router = APIRouter(prefix="/v1", route_class=ExportRoute)


async def get_service(session: DbSession) -> ExportService:
    return ExportService(session)


Service = Annotated[ExportService, Depends(get_service)]


def _responses(entity: str) -> dict[int | str, dict[str, Any]]:
    refusals = problem_responses(
        ValidationFailed,
        ExportCapacityExhausted,
        InvalidFilter,
        FilterTooComplex,
        UnknownFilterField,
        InvalidFilterValue,
    )
    # This route's 503 besides the one every route may answer (the document's default).
    refusals[503]["description"] = (
        "Too many exports under way (export-capacity), database unavailable or request timed "
        "out; retry after Retry-After seconds"
    )
    text = {"schema": {"type": "string"}}
    array = {"schema": {"type": "array", "items": {"type": "object"}}}
    return {
        200: {
            "description": (
                f"The {entity} with the requested fields, in id order: one JSON object a line "
                "(jsonl), one JSON array (json) or CSV with a header row (csv)."
            ),
            # A client generated from the document takes the first media type it knows: text
            # (the body as it is), whatever the format asked for.
            "content": {"application/x-ndjson": text, "text/csv": text, "application/json": array},
        },
        **refusals,
    }


def _streamed(export: Export) -> StreamingResponse:
    headers = {
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",  # proxies pass each batch on instead of buffering them all
    }
    return StreamingResponse(export.chunks, media_type=export.media_type, headers=headers)


@router.get(
    "/runs/export",
    operation_id="export_runs",
    tags=["runs"],
    response_class=StreamingResponse,
    responses=_responses("runs"),
)
async def export_runs(
    query: Annotated[RunExport, Query()], context: CurrentContext, service: Service
) -> StreamingResponse:
    """Export the runs `GET /v1/runs` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read (any number of runs), of the runs the
    caller may read. Interrupted? Ask again with `after` = the id of the last run received.
    """
    return _streamed(await service.export_runs(context.principal, query))


@router.get(
    "/experiments/export",
    operation_id="export_experiments",
    tags=["experiments"],
    response_class=StreamingResponse,
    responses=_responses("experiments"),
)
async def export_experiments(
    query: Annotated[ExperimentExport, Query()], context: CurrentContext, service: Service
) -> StreamingResponse:
    """Export the experiments `GET /v1/experiments` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read, of the experiments the caller may read.
    Interrupted? Ask again with `after` = the id of the last experiment received.
    """
    return _streamed(await service.export_experiments(context.principal, query))
