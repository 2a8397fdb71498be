from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.experiment_read import ExperimentRead


T = TypeVar("T", bound="ExperimentPage")


@_attrs_define
class ExperimentPage:
    """
    Attributes:
        items (list[ExperimentRead]):
        next_page_token (None | str): Pass as page_token for the next page; null on the last page.
        total_size (int | None | Unset): How many experiments the filters select (with total=estimate or exact); null
            without total.
        total_exact (bool | None | Unset): Whether total_size is an exact count: false for total=estimate, and for
            total=exact when counting ran out of its time budget (the planner's estimate then).
    """

    items: list[ExperimentRead]
    next_page_token: None | str
    total_size: int | None | Unset = UNSET
    total_exact: bool | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        next_page_token: None | str
        next_page_token = self.next_page_token

        total_size: int | None | Unset
        if isinstance(self.total_size, Unset):
            total_size = UNSET
        else:
            total_size = self.total_size

        total_exact: bool | None | Unset
        if isinstance(self.total_exact, Unset):
            total_exact = UNSET
        else:
            total_exact = self.total_exact

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "items": items,
                "next_page_token": next_page_token,
            }
        )
        if total_size is not UNSET:
            field_dict["total_size"] = total_size
        if total_exact is not UNSET:
            field_dict["total_exact"] = total_exact

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.experiment_read import ExperimentRead  # noqa: PLC0415

        d = dict(src_dict)
        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = ExperimentRead.from_dict(items_item_data)

            items.append(items_item)

        def _parse_next_page_token(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        next_page_token = _parse_next_page_token(d.pop("next_page_token"))

        def _parse_total_size(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        total_size = _parse_total_size(d.pop("total_size", UNSET))

        def _parse_total_exact(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        total_exact = _parse_total_exact(d.pop("total_exact", UNSET))

        experiment_page = cls(
            items=items,
            next_page_token=next_page_token,
            total_size=total_size,
            total_exact=total_exact,
        )

        experiment_page.additional_properties = d
        return experiment_page

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
