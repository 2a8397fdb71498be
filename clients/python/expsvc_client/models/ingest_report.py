from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.ingest_check import IngestCheck
from ..types import UNSET, Unset

T = TypeVar("T", bound="IngestReport")


@_attrs_define
class IngestReport:
    """What pulling session states from Telemetry Ingest's status API came to.

    Attributes:
        status (IngestCheck):
        error (None | str | Unset):
        checked (int | Unset): Running sessions asked about. Default: 0.
        telemetry_refreshed (int | Unset): Sessions whose last_telemetry_at moved forward from Ingest's last_data_at.
            Default: 0.
        unknown_to_ingest (list[str] | Unset): capture_session_ids running here, unknown to Ingest (first 100).
        unknown_to_ingest_count (int | Unset):  Default: 0.
    """

    status: IngestCheck
    error: None | str | Unset = UNSET
    checked: int | Unset = 0
    telemetry_refreshed: int | Unset = 0
    unknown_to_ingest: list[str] | Unset = UNSET
    unknown_to_ingest_count: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        status = self.status.value

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        checked = self.checked

        telemetry_refreshed = self.telemetry_refreshed

        unknown_to_ingest: list[str] | Unset = UNSET
        if not isinstance(self.unknown_to_ingest, Unset):
            unknown_to_ingest = self.unknown_to_ingest

        unknown_to_ingest_count = self.unknown_to_ingest_count

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error
        if checked is not UNSET:
            field_dict["checked"] = checked
        if telemetry_refreshed is not UNSET:
            field_dict["telemetry_refreshed"] = telemetry_refreshed
        if unknown_to_ingest is not UNSET:
            field_dict["unknown_to_ingest"] = unknown_to_ingest
        if unknown_to_ingest_count is not UNSET:
            field_dict["unknown_to_ingest_count"] = unknown_to_ingest_count

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        status = IngestCheck(d.pop("status"))

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        checked = d.pop("checked", UNSET)

        telemetry_refreshed = d.pop("telemetry_refreshed", UNSET)

        unknown_to_ingest = cast(list[str], d.pop("unknown_to_ingest", UNSET))

        unknown_to_ingest_count = d.pop("unknown_to_ingest_count", UNSET)

        ingest_report = cls(
            status=status,
            error=error,
            checked=checked,
            telemetry_refreshed=telemetry_refreshed,
            unknown_to_ingest=unknown_to_ingest,
            unknown_to_ingest_count=unknown_to_ingest_count,
        )

        ingest_report.additional_properties = d
        return ingest_report

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
