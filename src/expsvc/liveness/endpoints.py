from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from expsvc.auth.access import RoleRequired
from expsvc.capture.service import RunNotRunning
from expsvc.context import CurrentContext
from expsvc.errors import ValidationFailed, problem_responses
from expsvc.liveness.service import HeartbeatService
from expsvc.routing import DbSession, RepeatableRoute
from expsvc.run.service import RunNotFound

router = APIRouter(prefix="/v1/runs", tags=["runs"], route_class=RepeatableRoute)


async def get_service(session: DbSession) -> HeartbeatService:
    return HeartbeatService(session)


@router.post(
    "/{run_id}/heartbeat",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="heartbeat_run",
    response_class=Response,
    responses=problem_responses(RunNotFound, RoleRequired, RunNotRunning, ValidationFailed),
)
async def heartbeat_run(
    run_id: uuid.UUID,
    context: CurrentContext,
    service: Annotated[HeartbeatService, Depends(get_service)],
) -> Response:
    """Tell the service the running run is alive (the editor role on its experiment).

    Cheap by design: one update of ``last_heartbeat_at`` (no version bump, no history, audit or
    event). A running run that sends none for its heartbeat timeout is failed by the reaper
    with reason ``heartbeat_lost``. Any body is ignored, and so is ``Idempotency-Key``: a
    repeated heartbeat is harmless.
    """
    await service.beat(context.principal, run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
