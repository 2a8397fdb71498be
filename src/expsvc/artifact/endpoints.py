from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from expsvc.artifact.schemas import SOURCE, ArtifactEventType, ArtifactPage, ArtifactQuery
from expsvc.artifact.service import ArtifactEventService, ArtifactService
from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.integration.edge import (
    SignatureClock,
    integration_context,
    signed_events,
    signed_request_openapi,
)
from expsvc.integration.processor import InboxProcessor
from expsvc.integration.schemas import BatchResult
from expsvc.integration.signature import IntegrationDisabled, InvalidSignature
from expsvc.routing import DbSession, IntegrationRoute, TransactionalRoute
from expsvc.run.service import RunNotFound
from expsvc.settings import Settings
from expsvc.telemetry.schemas import batch_schema

events_router = APIRouter(
    prefix="/v1/integrations", tags=["integrations"], route_class=IntegrationRoute
)
run_artifacts_router = APIRouter(
    prefix="/v1/runs", tags=["artifacts"], route_class=TransactionalRoute
)

_BATCH_SCHEMA = batch_schema(
    [t.value for t in ArtifactEventType],
    "artifact.linked: run_id, artifact_id, uri, kind, status?, reason?; "
    "artifact.status_changed: run_id, artifact_id, status, reason?; "
    "model.approved: run_id, artifact_id, model_ref?",
)


@events_router.post(
    "/artifacts/events",
    operation_id="receive_artifact_events",
    responses=problem_responses(
        BadRequest, InvalidSignature, IntegrationDisabled, ValidationFailed
    ),
    openapi_extra=signed_request_openapi(_BATCH_SCHEMA),
)
async def receive_artifact_events(
    request: Request, session: DbSession, clock: SignatureClock
) -> BatchResult:
    """The Artifact Service's events: artifact.linked, artifact.status_changed and
    model.approved, signed like a Standard Webhook with EXPSVC_ARTIFACT_SERVICE_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.
    """
    settings: Settings = request.app.state.settings
    events = await signed_events(
        request, settings.artifact_service_secret, "Artifact Service", clock
    )
    service = ArtifactEventService(session, await integration_context(request, SOURCE))
    processor = InboxProcessor(session, SOURCE, service.context.request_id)
    return await processor.process(events, service.apply)


@run_artifacts_router.get(
    "/{run_id}/artifacts",
    operation_id="list_run_artifacts",
    responses=problem_responses(BadRequest, RunNotFound, ValidationFailed),
)
async def list_run_artifacts(
    run_id: uuid.UUID,
    query: Annotated[ArtifactQuery, Query()],
    context: CurrentContext,
    session: DbSession,
) -> ArtifactPage:
    """The run's artifacts as the Artifact Service reported them, oldest link first
    (created_at, then id), keyset-paginated; ``approved_model=true`` gives the run's approved
    model. Unknown parameters are refused."""
    return await ArtifactService(session).search(context.principal, run_id, query)
