from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.bulk_outcome import BulkOutcome
from ..models.status import Status

T = TypeVar("T", bound="BulkItemResult")


@_attrs_define
class BulkItemResult:
    """The outcome for one selected entity.

    Attributes:
        id (UUID):
        outcome (BulkOutcome):
        status (None | Status): After the change when ok; otherwise (and in a dry run) the current status; null when not
            found.
        version (int | None): The entity's version after the change when ok (its ETag); otherwise the current one; null
            when not found.
        detail (None | str): Why the item was not changed.
    """

    id: UUID
    outcome: BulkOutcome
    status: None | Status
    version: int | None
    detail: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        outcome = self.outcome.value

        status: None | str
        if isinstance(self.status, Status):
            status = self.status.value
        else:
            status = self.status

        version: int | None
        version = self.version

        detail: None | str
        detail = self.detail

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "outcome": outcome,
                "status": status,
                "version": version,
                "detail": detail,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        outcome = BulkOutcome(d.pop("outcome"))

        def _parse_status(data: object) -> None | Status:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                status_type_0 = Status(data)

                return status_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Status, data)

        status = _parse_status(d.pop("status"))

        def _parse_version(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        version = _parse_version(d.pop("version"))

        def _parse_detail(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        detail = _parse_detail(d.pop("detail"))

        bulk_item_result = cls(
            id=id,
            outcome=outcome,
            status=status,
            version=version,
            detail=detail,
        )

        bulk_item_result.additional_properties = d
        return bulk_item_result

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
