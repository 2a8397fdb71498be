from __future__ import annotations

from fastapi import APIRouter

from expsvc.auth.errors import AdminRequired
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
    responses=problem_responses(AdminRequired, NoReconciliationReport),
)
async def get_capture_reconciliation(
    context: CurrentContext, session: DbSession
) -> ReconciliationReportRead:
    """The report of the last capture reconciliation pass: what it stopped or failed and why,
    what Telemetry Ingest's status API said, and the orphan telemetry kept. For admins: it
    names capture sessions of every experiment."""
    if not context.principal.is_admin:
        raise AdminRequired(
            "the reconciliation report covers every experiment's captures; it is for admins "
            "(EXPSVC_ADMIN_PRINCIPALS/GROUPS)"
        )
    row = await ReconciliationRepository(session).last_report()
    if row is None:
        raise NoReconciliationReport(
            "no capture reconciliation has run yet (see EXPSVC_CAPTURE_RECONCILE_INTERVAL_SECONDS)"
        )
    return ReconciliationReportRead.model_validate(
        {**row.report, "id": row.id, "started_at": row.started_at, "finished_at": row.finished_at}
    )
