from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from expsvc.card.schemas import RunCard
from expsvc.card.service import CardService
from expsvc.context import CurrentContext
from expsvc.errors import ValidationFailed, problem_responses
from expsvc.routing import DbSession, TransactionalRoute
from expsvc.run.service import RunNotFound

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=TransactionalRoute)


async def get_service(request: Request, session: DbSession) -> CardService:
    return CardService(session, request.app.state.metrics_service)


@router.get(
    "/{run_id}/card",
    operation_id="get_run_card",
    responses=problem_responses(RunNotFound, ValidationFailed),
)
async def get_run_card(
    run_id: uuid.UUID,
    context: CurrentContext,
    service: Annotated[CardService, Depends(get_service)],
) -> RunCard:
    """The run with its capture sessions, sensors, artifacts and metric aggregates, for a card.

    The aggregates come from the Metrics Service within ``EXPSVC_METRICS_SERVICE_TIMEOUT_SECONDS``
    (0.3 s by default). When it fails, is too slow, or its circuit breaker is open, the card is
    still 200, with ``metrics: null`` and ``degraded: ["metrics"]``.
    """
    return await service.get(context, run_id)
