from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.event_result import EventResult


T = TypeVar("T", bound="BatchResult")


@_attrs_define
class BatchResult:
    """
    Attributes:
        applied (int):
        duplicate (int):
        orphaned (int):
        rejected (int):
        results (list[EventResult]): One per event, in the order sent.
    """

    applied: int
    duplicate: int
    orphaned: int
    rejected: int
    results: list[EventResult]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        applied = self.applied

        duplicate = self.duplicate

        orphaned = self.orphaned

        rejected = self.rejected

        results = []
        for results_item_data in self.results:
            results_item = results_item_data.to_dict()
            results.append(results_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "applied": applied,
                "duplicate": duplicate,
                "orphaned": orphaned,
                "rejected": rejected,
                "results": results,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.event_result import EventResult  # noqa: PLC0415

        d = dict(src_dict)
        applied = d.pop("applied")

        duplicate = d.pop("duplicate")

        orphaned = d.pop("orphaned")

        rejected = d.pop("rejected")

        results = []
        _results = d.pop("results")
        for results_item_data in _results:
            results_item = EventResult.from_dict(results_item_data)

            results.append(results_item)

        batch_result = cls(
            applied=applied,
            duplicate=duplicate,
            orphaned=orphaned,
            rejected=rejected,
            results=results,
        )

        batch_result.additional_properties = d
        return batch_result

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
