from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.bulk_mode import BulkMode

if TYPE_CHECKING:
    from ..models.bulk_counts import BulkCounts
    from ..models.bulk_item_result import BulkItemResult


T = TypeVar("T", bound="BulkResult")


@_attrs_define
class BulkResult:
    """
    Attributes:
        batch_id (None | UUID): Ties every history row, event and audit row of this operation (GET
            /v1/audit?batch_id=...); null for a dry run.
        dry_run (bool):
        mode (BulkMode):
        selected (int): Distinct entities selected by ids or filter.
        counts (BulkCounts): How many selected items had each outcome.
        items (list[BulkItemResult]): Per item, in id order: every item, or in a dry run a sample of at most 100 items
            per outcome.
        items_truncated (bool): Whether items leaves some out (dry runs only).
    """

    batch_id: None | UUID
    dry_run: bool
    mode: BulkMode
    selected: int
    counts: BulkCounts
    items: list[BulkItemResult]
    items_truncated: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        batch_id: None | str
        if isinstance(self.batch_id, UUID):
            batch_id = str(self.batch_id)
        else:
            batch_id = self.batch_id

        dry_run = self.dry_run

        mode = self.mode.value

        selected = self.selected

        counts = self.counts.to_dict()

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        items_truncated = self.items_truncated

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "batch_id": batch_id,
                "dry_run": dry_run,
                "mode": mode,
                "selected": selected,
                "counts": counts,
                "items": items,
                "items_truncated": items_truncated,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.bulk_counts import BulkCounts  # noqa: PLC0415
        from ..models.bulk_item_result import BulkItemResult  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_batch_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                batch_id_type_0 = UUID(data)

                return batch_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        batch_id = _parse_batch_id(d.pop("batch_id"))

        dry_run = d.pop("dry_run")

        mode = BulkMode(d.pop("mode"))

        selected = d.pop("selected")

        counts = BulkCounts.from_dict(d.pop("counts"))

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = BulkItemResult.from_dict(items_item_data)

            items.append(items_item)

        items_truncated = d.pop("items_truncated")

        bulk_result = cls(
            batch_id=batch_id,
            dry_run=dry_run,
            mode=mode,
            selected=selected,
            counts=counts,
            items=items,
            items_truncated=items_truncated,
        )

        bulk_result.additional_properties = d
        return bulk_result

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
