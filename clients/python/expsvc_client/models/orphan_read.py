from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="OrphanRead")


@_attrs_define
class OrphanRead:
    """
    Attributes:
        capture_session_id (str):
        first_seen_at (datetime.datetime):
        last_seen_at (datetime.datetime):
        events (int):
        event_types (list[str]):
        last_event_id (str):
        capture_exists (bool): A capture session with this id exists now (created after the events came).
    """

    capture_session_id: str
    first_seen_at: datetime.datetime
    last_seen_at: datetime.datetime
    events: int
    event_types: list[str]
    last_event_id: str
    capture_exists: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        capture_session_id = self.capture_session_id

        first_seen_at = self.first_seen_at.isoformat()

        last_seen_at = self.last_seen_at.isoformat()

        events = self.events

        event_types = self.event_types

        last_event_id = self.last_event_id

        capture_exists = self.capture_exists

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "capture_session_id": capture_session_id,
                "first_seen_at": first_seen_at,
                "last_seen_at": last_seen_at,
                "events": events,
                "event_types": event_types,
                "last_event_id": last_event_id,
                "capture_exists": capture_exists,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        capture_session_id = d.pop("capture_session_id")

        first_seen_at = datetime.datetime.fromisoformat(d.pop("first_seen_at"))

        last_seen_at = datetime.datetime.fromisoformat(d.pop("last_seen_at"))

        events = d.pop("events")

        event_types = cast(list[str], d.pop("event_types"))

        last_event_id = d.pop("last_event_id")

        capture_exists = d.pop("capture_exists")

        orphan_read = cls(
            capture_session_id=capture_session_id,
            first_seen_at=first_seen_at,
            last_seen_at=last_seen_at,
            events=events,
            event_types=event_types,
            last_event_id=last_event_id,
            capture_exists=capture_exists,
        )

        orphan_read.additional_properties = d
        return orphan_read

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
