from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ReceiveArtifactEventsBodyEventsItemData")


@_attrs_define
class ReceiveArtifactEventsBodyEventsItemData:
    """artifact.linked: run_id, artifact_id, uri, kind, status?, reason?; artifact.status_changed: run_id, artifact_id,
    status, reason?; model.approved: run_id, artifact_id, model_ref?

    """

    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        receive_artifact_events_body_events_item_data = cls()

        receive_artifact_events_body_events_item_data.additional_properties = d
        return receive_artifact_events_body_events_item_data

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
