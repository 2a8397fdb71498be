from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="BulkCounts")


@_attrs_define
class BulkCounts:
    """How many selected items had each outcome.

    Attributes:
        ok (int | Unset):  Default: 0.
        unchanged (int | Unset):  Default: 0.
        not_found (int | Unset):  Default: 0.
        precondition_failed (int | Unset):  Default: 0.
        invalid_transition (int | Unset):  Default: 0.
        experiment_closed (int | Unset):  Default: 0.
        limit_exceeded (int | Unset):  Default: 0.
    """

    ok: int | Unset = 0
    unchanged: int | Unset = 0
    not_found: int | Unset = 0
    precondition_failed: int | Unset = 0
    invalid_transition: int | Unset = 0
    experiment_closed: int | Unset = 0
    limit_exceeded: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ok = self.ok

        unchanged = self.unchanged

        not_found = self.not_found

        precondition_failed = self.precondition_failed

        invalid_transition = self.invalid_transition

        experiment_closed = self.experiment_closed

        limit_exceeded = self.limit_exceeded

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if ok is not UNSET:
            field_dict["ok"] = ok
        if unchanged is not UNSET:
            field_dict["unchanged"] = unchanged
        if not_found is not UNSET:
            field_dict["not_found"] = not_found
        if precondition_failed is not UNSET:
            field_dict["precondition_failed"] = precondition_failed
        if invalid_transition is not UNSET:
            field_dict["invalid_transition"] = invalid_transition
        if experiment_closed is not UNSET:
            field_dict["experiment_closed"] = experiment_closed
        if limit_exceeded is not UNSET:
            field_dict["limit_exceeded"] = limit_exceeded

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        ok = d.pop("ok", UNSET)

        unchanged = d.pop("unchanged", UNSET)

        not_found = d.pop("not_found", UNSET)

        precondition_failed = d.pop("precondition_failed", UNSET)

        invalid_transition = d.pop("invalid_transition", UNSET)

        experiment_closed = d.pop("experiment_closed", UNSET)

        limit_exceeded = d.pop("limit_exceeded", UNSET)

        bulk_counts = cls(
            ok=ok,
            unchanged=unchanged,
            not_found=not_found,
            precondition_failed=precondition_failed,
            invalid_transition=invalid_transition,
            experiment_closed=experiment_closed,
            limit_exceeded=limit_exceeded,
        )

        bulk_counts.additional_properties = d
        return bulk_counts

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
