"""ORM table definitions, one module per table. Alembic autogenerate reads ``Base.metadata``.

Repositories use the ``Table`` objects (``experiments``, ``runs`` ...) with Core statements.
"""

from expsvc.models.api_token import ApiToken, api_tokens
from expsvc.models.artifact import RunArtifact, run_artifacts
from expsvc.models.audit import AuditEntry, audit_log
from expsvc.models.base import Base
from expsvc.models.capture import CaptureSession, capture_sessions
from expsvc.models.experiment import Experiment, experiments
from expsvc.models.grant import ExperimentGrant, experiment_grants
from expsvc.models.idempotency_key import IdempotencyKey, idempotency_keys
from expsvc.models.integration import (
    InboxEvent,
    OrphanTelemetry,
    ReconciliationReport,
    capture_reconciliation_reports,
    integration_inbox,
    orphan_telemetry,
)
from expsvc.models.outbox import EventSinkCursor, OutboxEvent, event_sink_cursors, outbox_events
from expsvc.models.run import Run, run_tag_sets, runs
from expsvc.models.schema_release import SchemaRelease, schema_releases
from expsvc.models.status_history import StatusHistory, status_history
from expsvc.models.webhook import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Base",
    "CaptureSession",
    "EventSinkCursor",
    "Experiment",
    "ExperimentGrant",
    "IdempotencyKey",
    "InboxEvent",
    "OrphanTelemetry",
    "OutboxEvent",
    "ReconciliationReport",
    "Run",
    "RunArtifact",
    "SchemaRelease",
    "StatusHistory",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "api_tokens",
    "audit_log",
    "capture_reconciliation_reports",
    "capture_sessions",
    "event_sink_cursors",
    "experiment_grants",
    "experiments",
    "idempotency_keys",
    "integration_inbox",
    "orphan_telemetry",
    "outbox_events",
    "run_artifacts",
    "run_tag_sets",
    "runs",
    "schema_releases",
    "status_history",
    "webhook_deliveries",
    "webhook_delivery_attempts",
    "webhook_endpoints",
]
