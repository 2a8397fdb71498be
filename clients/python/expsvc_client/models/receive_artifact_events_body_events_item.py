from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.receive_artifact_events_body_events_item_type import ReceiveArtifactEventsBodyEventsItemType

if TYPE_CHECKING:
    from ..models.receive_artifact_events_body_events_item_data import ReceiveArtifactEventsBodyEventsItemData


T = TypeVar("T", bound="ReceiveArtifactEventsBodyEventsItem")


@_attrs_define
class ReceiveArtifactEventsBodyEventsItem:
    """
    Attributes:
        id (str):
        type_ (ReceiveArtifactEventsBodyEventsItemType):
        timestamp (datetime.datetime):
        data (ReceiveArtifactEventsBodyEventsItemData): artifact.linked: run_id, artifact_id, uri, kind, status?,
            reason?; artifact.status_changed: run_id, artifact_id, status, reason?; model.approved: run_id, artifact_id,
            model_ref?
    """

    id: str
    type_: ReceiveArtifactEventsBodyEventsItemType
    timestamp: datetime.datetime
    data: ReceiveArtifactEventsBodyEventsItemData
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        type_ = self.type_.value

        timestamp = self.timestamp.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "type": type_,
                "timestamp": timestamp,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.receive_artifact_events_body_events_item_data import ReceiveArtifactEventsBodyEventsItemData  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        type_ = ReceiveArtifactEventsBodyEventsItemType(d.pop("type"))

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = ReceiveArtifactEventsBodyEventsItemData.from_dict(d.pop("data"))

        receive_artifact_events_body_events_item = cls(
            id=id,
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        receive_artifact_events_body_events_item.additional_properties = d
        return receive_artifact_events_body_events_item

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
