"""What the bulk routes (in the run and experiment routers) share."""

from __future__ import annotations

from starlette.responses import Response

from expsvc.bulk.schemas import BulkResult


def bulk_response(result: BulkResult) -> Response:
    """The answer as plain JSON bytes: storable for Idempotency-Key replay, and serialised once
    by pydantic (FastAPI would validate 10,000 items again, then encode them in Python)."""
    return Response(content=result.model_dump_json(), media_type="application/json")
