"""Contains all the data models used in inputs/outputs"""

from .api_token_create import ApiTokenCreate
from .api_token_page import ApiTokenPage
from .api_token_read import ApiTokenRead
from .api_token_with_secret import ApiTokenWithSecret
from .artifact_page import ArtifactPage
from .artifact_read import ArtifactRead
from .artifact_status import ArtifactStatus
from .audit_entry_read import AuditEntryRead
from .audit_entry_read_changes import AuditEntryReadChanges
from .audit_page import AuditPage
from .audited_entity import AuditedEntity
from .auth_mode import AuthMode
from .batch_result import BatchResult
from .bulk_counts import BulkCounts
from .bulk_item_result import BulkItemResult
from .bulk_mode import BulkMode
from .bulk_outcome import BulkOutcome
from .bulk_result import BulkResult
from .capture_create import CaptureCreate
from .capture_page import CapturePage
from .capture_read import CaptureRead
from .capture_update import CaptureUpdate
from .card_part import CardPart
from .case_report import CaseReport
from .cloud_event import CloudEvent
from .cloud_event_data import CloudEventData
from .delivery_attempt_read import DeliveryAttemptRead
from .delivery_page import DeliveryPage
from .delivery_read import DeliveryRead
from .delivery_read_payload import DeliveryReadPayload
from .delivery_status import DeliveryStatus
from .entity_kind import EntityKind
from .event_page import EventPage
from .event_result import EventResult
from .experiment_bulk_tags import ExperimentBulkTags
from .experiment_bulk_tags_expected_versions_type_0 import ExperimentBulkTagsExpectedVersionsType0
from .experiment_create import ExperimentCreate
from .experiment_create_params import ExperimentCreateParams
from .experiment_filter import ExperimentFilter
from .experiment_order_by import ExperimentOrderBy
from .experiment_page import ExperimentPage
from .experiment_read import ExperimentRead
from .experiment_read_params import ExperimentReadParams
from .experiment_update import ExperimentUpdate
from .experiment_update_params import ExperimentUpdateParams
from .export_format import ExportFormat
from .fail_request import FailRequest
from .grant_list import GrantList
from .grant_read import GrantRead
from .grant_write import GrantWrite
from .grantee_type import GranteeType
from .ingest_check import IngestCheck
from .ingest_report import IngestReport
from .list_events_type_item import ListEventsTypeItem
from .list_events_versions import ListEventsVersions
from .liveness import Liveness
from .me_read import MeRead
from .metric_aggregate import MetricAggregate
from .not_ready import NotReady
from .not_ready_checks import NotReadyChecks
from .orphan_read import OrphanRead
from .orphan_report import OrphanReport
from .problem import Problem
from .purge_report import PurgeReport
from .readiness import Readiness
from .readiness_checks import ReadinessChecks
from .receive_artifact_events_body import ReceiveArtifactEventsBody
from .receive_artifact_events_body_events_item import ReceiveArtifactEventsBodyEventsItem
from .receive_artifact_events_body_events_item_data import ReceiveArtifactEventsBodyEventsItemData
from .receive_artifact_events_body_events_item_type import ReceiveArtifactEventsBodyEventsItemType
from .receive_telemetry_events_body import ReceiveTelemetryEventsBody
from .receive_telemetry_events_body_events_item import ReceiveTelemetryEventsBodyEventsItem
from .receive_telemetry_events_body_events_item_data import ReceiveTelemetryEventsBodyEventsItemData
from .receive_telemetry_events_body_events_item_type import ReceiveTelemetryEventsBodyEventsItemType
from .reconciliation_report_read import ReconciliationReportRead
from .result import Result
from .role import Role
from .run_bulk_action import RunBulkAction
from .run_bulk_tags import RunBulkTags
from .run_bulk_tags_expected_versions_type_0 import RunBulkTagsExpectedVersionsType0
from .run_bulk_transition import RunBulkTransition
from .run_bulk_transition_expected_versions_type_0 import RunBulkTransitionExpectedVersionsType0
from .run_card import RunCard
from .run_create import RunCreate
from .run_create_params import RunCreateParams
from .run_create_with_experiment import RunCreateWithExperiment
from .run_create_with_experiment_params import RunCreateWithExperimentParams
from .run_filter import RunFilter
from .run_metrics import RunMetrics
from .run_metrics_aggregates import RunMetricsAggregates
from .run_order_by import RunOrderBy
from .run_page import RunPage
from .run_read import RunRead
from .run_read_params import RunReadParams
from .run_update import RunUpdate
from .run_update_params import RunUpdateParams
from .sort_direction import SortDirection
from .source import Source
from .status import Status
from .status_change import StatusChange
from .status_history_page import StatusHistoryPage
from .stream_events_response_200 import StreamEventsResponse200
from .stream_events_response_200_event import StreamEventsResponse200Event
from .stream_events_type_item import StreamEventsTypeItem
from .stream_events_versions import StreamEventsVersions
from .total_mode import TotalMode
from .transition_request import TransitionRequest
from .validation_item import ValidationItem
from .webhook_create import WebhookCreate
from .webhook_create_event_types_item import WebhookCreateEventTypesItem
from .webhook_page import WebhookPage
from .webhook_read import WebhookRead
from .webhook_update import WebhookUpdate
from .webhook_update_event_types_item import WebhookUpdateEventTypesItem
from .webhook_with_secret import WebhookWithSecret

__all__ = (
    "ApiTokenCreate",
    "ApiTokenPage",
    "ApiTokenRead",
    "ApiTokenWithSecret",
    "ArtifactPage",
    "ArtifactRead",
    "ArtifactStatus",
    "AuditedEntity",
    "AuditEntryRead",
    "AuditEntryReadChanges",
    "AuditPage",
    "AuthMode",
    "BatchResult",
    "BulkCounts",
    "BulkItemResult",
    "BulkMode",
    "BulkOutcome",
    "BulkResult",
    "CaptureCreate",
    "CapturePage",
    "CaptureRead",
    "CaptureUpdate",
    "CardPart",
    "CaseReport",
    "CloudEvent",
    "CloudEventData",
    "DeliveryAttemptRead",
    "DeliveryPage",
    "DeliveryRead",
    "DeliveryReadPayload",
    "DeliveryStatus",
    "EntityKind",
    "EventPage",
    "EventResult",
    "ExperimentBulkTags",
    "ExperimentBulkTagsExpectedVersionsType0",
    "ExperimentCreate",
    "ExperimentCreateParams",
    "ExperimentFilter",
    "ExperimentOrderBy",
    "ExperimentPage",
    "ExperimentRead",
    "ExperimentReadParams",
    "ExperimentUpdate",
    "ExperimentUpdateParams",
    "ExportFormat",
    "FailRequest",
    "GranteeType",
    "GrantList",
    "GrantRead",
    "GrantWrite",
    "IngestCheck",
    "IngestReport",
    "ListEventsTypeItem",
    "ListEventsVersions",
    "Liveness",
    "MeRead",
    "MetricAggregate",
    "NotReady",
    "NotReadyChecks",
    "OrphanRead",
    "OrphanReport",
    "Problem",
    "PurgeReport",
    "Readiness",
    "ReadinessChecks",
    "ReceiveArtifactEventsBody",
    "ReceiveArtifactEventsBodyEventsItem",
    "ReceiveArtifactEventsBodyEventsItemData",
    "ReceiveArtifactEventsBodyEventsItemType",
    "ReceiveTelemetryEventsBody",
    "ReceiveTelemetryEventsBodyEventsItem",
    "ReceiveTelemetryEventsBodyEventsItemData",
    "ReceiveTelemetryEventsBodyEventsItemType",
    "ReconciliationReportRead",
    "Result",
    "Role",
    "RunBulkAction",
    "RunBulkTags",
    "RunBulkTagsExpectedVersionsType0",
    "RunBulkTransition",
    "RunBulkTransitionExpectedVersionsType0",
    "RunCard",
    "RunCreate",
    "RunCreateParams",
    "RunCreateWithExperiment",
    "RunCreateWithExperimentParams",
    "RunFilter",
    "RunMetrics",
    "RunMetricsAggregates",
    "RunOrderBy",
    "RunPage",
    "RunRead",
    "RunReadParams",
    "RunUpdate",
    "RunUpdateParams",
    "SortDirection",
    "Source",
    "Status",
    "StatusChange",
    "StatusHistoryPage",
    "StreamEventsResponse200",
    "StreamEventsResponse200Event",
    "StreamEventsTypeItem",
    "StreamEventsVersions",
    "TotalMode",
    "TransitionRequest",
    "ValidationItem",
    "WebhookCreate",
    "WebhookCreateEventTypesItem",
    "WebhookPage",
    "WebhookRead",
    "WebhookUpdate",
    "WebhookUpdateEventTypesItem",
    "WebhookWithSecret",
)
