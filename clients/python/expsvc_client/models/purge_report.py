from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="PurgeReport")


@_attrs_define
class PurgeReport:
    """
    Attributes:
        inbox_events (int): Inbound event ids forgotten (past retention).
        orphans (int): Orphan records dropped (last seen past retention).
    """

    inbox_events: int
    orphans: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        inbox_events = self.inbox_events

        orphans = self.orphans

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "inbox_events": inbox_events,
                "orphans": orphans,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        inbox_events = d.pop("inbox_events")

        orphans = d.pop("orphans")

        purge_report = cls(
            inbox_events=inbox_events,
            orphans=orphans,
        )

        purge_report.additional_properties = d
        return purge_report

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
