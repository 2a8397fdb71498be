from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="CaseReport")


@_attrs_define
class CaseReport:
    """Capture sessions one rule acted on.

    Attributes:
        count (int):
        capture_ids (list[UUID]): The first 100.
    """

    count: int
    capture_ids: list[UUID]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        count = self.count

        capture_ids = []
        for capture_ids_item_data in self.capture_ids:
            capture_ids_item = str(capture_ids_item_data)
            capture_ids.append(capture_ids_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "count": count,
                "capture_ids": capture_ids,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        count = d.pop("count")

        capture_ids = []
        _capture_ids = d.pop("capture_ids")
        for capture_ids_item_data in _capture_ids:
            capture_ids_item = UUID(capture_ids_item_data)

            capture_ids.append(capture_ids_item)

        case_report = cls(
            count=count,
            capture_ids=capture_ids,
        )

        case_report.additional_properties = d
        return case_report

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
