from __future__ import annotations

from fastapi import APIRouter

from expsvc.context import CurrentContext
from expsvc.errors import NotFound, problem_responses
from expsvc.routing import DbSession, TransactionalRoute
from expsvc.telemetry.reconciliation_repository import ReconciliationRepository
from expsvc.telemetry.reconciliation_schemas import ReconciliationReportRead

# Included before the capture router: otherwise /v1/captures/{capture_id} would take the path.
router = APIRouter(prefix="/v1/captures", tags=["captures"], route_class=TransactionalRoute)


class NoReconciliationReport(NotFound):
    slug, title = "reconciliation-report-not-found", "No reconciliation has run yet"


@router.get(
    "/reconciliation",
    operation_id="get_capture_reconciliation",
    responses=problem_responses(NoReconciliationReport),
)
async def get_capture_reconciliation(
    _: CurrentContext, session: DbSession
) -> ReconciliationReportRead:
    """The report of the last capture reconciliation pass: what it stopped or failed and why,
    what Telemetry Ingest's status API said, and the orphan telemetry kept."""
    row = await ReconciliationRepository(session).last_report()
    if row is None:
        raise NoReconciliationReport(
            "no capture reconciliation has run yet (see EXPSVC_CAPTURE_RECONCILE_INTERVAL_SECONDS)"
        )
    return ReconciliationReportRead.model_validate(
        {**row.report, "id": row.id, "started_at": row.started_at, "finished_at": row.finished_at}
    )
