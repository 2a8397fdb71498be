from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.receive_telemetry_events_body_events_item_type import ReceiveTelemetryEventsBodyEventsItemType

if TYPE_CHECKING:
    from ..models.receive_telemetry_events_body_events_item_data import ReceiveTelemetryEventsBodyEventsItemData


T = TypeVar("T", bound="ReceiveTelemetryEventsBodyEventsItem")


@_attrs_define
class ReceiveTelemetryEventsBodyEventsItem:
    """
    Attributes:
        id (str):
        type_ (ReceiveTelemetryEventsBodyEventsItemType):
        timestamp (datetime.datetime):
        data (ReceiveTelemetryEventsBodyEventsItemData): capture.started / capture.stopped: capture_session_id, reason?;
            sensor.linked: capture_session_id, sensor_id; telemetry.heartbeat: capture_session_id, last_data_at?
    """

    id: str
    type_: ReceiveTelemetryEventsBodyEventsItemType
    timestamp: datetime.datetime
    data: ReceiveTelemetryEventsBodyEventsItemData
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
        from ..models.receive_telemetry_events_body_events_item_data import ReceiveTelemetryEventsBodyEventsItemData  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        type_ = ReceiveTelemetryEventsBodyEventsItemType(d.pop("type"))

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = ReceiveTelemetryEventsBodyEventsItemData.from_dict(d.pop("data"))

        receive_telemetry_events_body_events_item = cls(
            id=id,
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        receive_telemetry_events_body_events_item.additional_properties = d
        return receive_telemetry_events_body_events_item

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
