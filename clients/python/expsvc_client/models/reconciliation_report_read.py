from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.case_report import CaseReport
    from ..models.ingest_report import IngestReport
    from ..models.orphan_report import OrphanReport
    from ..models.purge_report import PurgeReport


T = TypeVar("T", bound="ReconciliationReportRead")


@_attrs_define
class ReconciliationReportRead:
    """
    Attributes:
        stopped_run_closed (CaseReport): Capture sessions one rule acted on.
        stopped_in_ingest (CaseReport): Capture sessions one rule acted on.
        failed_telemetry_lost (CaseReport): Capture sessions one rule acted on.
        ingest (IngestReport): What pulling session states from Telemetry Ingest's status API came to.
        orphans (OrphanReport):
        purged (PurgeReport):
        id (int):
        started_at (datetime.datetime):
        finished_at (datetime.datetime):
    """

    stopped_run_closed: CaseReport
    stopped_in_ingest: CaseReport
    failed_telemetry_lost: CaseReport
    ingest: IngestReport
    orphans: OrphanReport
    purged: PurgeReport
    id: int
    started_at: datetime.datetime
    finished_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        stopped_run_closed = self.stopped_run_closed.to_dict()

        stopped_in_ingest = self.stopped_in_ingest.to_dict()

        failed_telemetry_lost = self.failed_telemetry_lost.to_dict()

        ingest = self.ingest.to_dict()

        orphans = self.orphans.to_dict()

        purged = self.purged.to_dict()

        id = self.id

        started_at = self.started_at.isoformat()

        finished_at = self.finished_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "stopped_run_closed": stopped_run_closed,
                "stopped_in_ingest": stopped_in_ingest,
                "failed_telemetry_lost": failed_telemetry_lost,
                "ingest": ingest,
                "orphans": orphans,
                "purged": purged,
                "id": id,
                "started_at": started_at,
                "finished_at": finished_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.case_report import CaseReport  # noqa: PLC0415
        from ..models.ingest_report import IngestReport  # noqa: PLC0415
        from ..models.orphan_report import OrphanReport  # noqa: PLC0415
        from ..models.purge_report import PurgeReport  # noqa: PLC0415

        d = dict(src_dict)
        stopped_run_closed = CaseReport.from_dict(d.pop("stopped_run_closed"))

        stopped_in_ingest = CaseReport.from_dict(d.pop("stopped_in_ingest"))

        failed_telemetry_lost = CaseReport.from_dict(d.pop("failed_telemetry_lost"))

        ingest = IngestReport.from_dict(d.pop("ingest"))

        orphans = OrphanReport.from_dict(d.pop("orphans"))

        purged = PurgeReport.from_dict(d.pop("purged"))

        id = d.pop("id")

        started_at = datetime.datetime.fromisoformat(d.pop("started_at"))

        finished_at = datetime.datetime.fromisoformat(d.pop("finished_at"))

        reconciliation_report_read = cls(
            stopped_run_closed=stopped_run_closed,
            stopped_in_ingest=stopped_in_ingest,
            failed_telemetry_lost=failed_telemetry_lost,
            ingest=ingest,
            orphans=orphans,
            purged=purged,
            id=id,
            started_at=started_at,
            finished_at=finished_at,
        )

        reconciliation_report_read.additional_properties = d
        return reconciliation_report_read

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
