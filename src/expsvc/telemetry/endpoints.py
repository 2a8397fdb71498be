from __future__ import annotations

from fastapi import APIRouter, Request

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
from expsvc.routing import DbSession, IntegrationRoute
from expsvc.settings import Settings
from expsvc.telemetry.schemas import SOURCE, TELEMETRY_BATCH_SCHEMA
from expsvc.telemetry.service import TelemetryEventService

router = APIRouter(prefix="/v1/integrations", tags=["integrations"], route_class=IntegrationRoute)


@router.post(
    "/telemetry/events",
    operation_id="receive_telemetry_events",
    responses=problem_responses(
        BadRequest, InvalidSignature, IntegrationDisabled, ValidationFailed
    ),
    openapi_extra=signed_request_openapi(TELEMETRY_BATCH_SCHEMA),
)
async def receive_telemetry_events(
    request: Request, session: DbSession, clock: SignatureClock
) -> BatchResult:
    """Telemetry Ingest's events: capture.started, capture.stopped, sensor.linked and
    telemetry.heartbeat, signed like a Standard Webhook with EXPSVC_TELEMETRY_INGEST_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.
    """
    settings: Settings = request.app.state.settings
    events = await signed_events(
        request, settings.telemetry_ingest_secret, "Telemetry Ingest", clock
    )
    service = TelemetryEventService(session, await integration_context(request, SOURCE))
    processor = InboxProcessor(session, SOURCE, service.context.request_id)
    return await processor.process(events, service.apply)
