from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.cloud_event_data import CloudEventData


T = TypeVar("T", bound="CloudEvent")


@_attrs_define
class CloudEvent:
    """A CloudEvents 1.0 envelope (structured JSON mode); see docs/events.md.

    Attributes:
        specversion (str):
        id (str): Unique per event; the same on every redelivery (dedupe key).
        source (str):
        type_ (str):
        subject (str):
        time (str):
        datacontenttype (str):
        schemaversion (str): Version of the data schema; an incompatible change makes a new one, published beside the
            old for two releases (docs/events.md).
        dataschema (str): The data schema's URN, urn:expsvc:events:<type>:<schemaversion>.
        sequence (str): Position in the service's event log; the feed cursor.
        data (CloudEventData):
        traceparent (None | str | Unset):
    """

    specversion: str
    id: str
    source: str
    type_: str
    subject: str
    time: str
    datacontenttype: str
    schemaversion: str
    dataschema: str
    sequence: str
    data: CloudEventData
    traceparent: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        specversion = self.specversion

        id = self.id

        source = self.source

        type_ = self.type_

        subject = self.subject

        time = self.time

        datacontenttype = self.datacontenttype

        schemaversion = self.schemaversion

        dataschema = self.dataschema

        sequence = self.sequence

        data = self.data.to_dict()

        traceparent: None | str | Unset
        if isinstance(self.traceparent, Unset):
            traceparent = UNSET
        else:
            traceparent = self.traceparent

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "specversion": specversion,
                "id": id,
                "source": source,
                "type": type_,
                "subject": subject,
                "time": time,
                "datacontenttype": datacontenttype,
                "schemaversion": schemaversion,
                "dataschema": dataschema,
                "sequence": sequence,
                "data": data,
            }
        )
        if traceparent is not UNSET:
            field_dict["traceparent"] = traceparent

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cloud_event_data import CloudEventData  # noqa: PLC0415

        d = dict(src_dict)
        specversion = d.pop("specversion")

        id = d.pop("id")

        source = d.pop("source")

        type_ = d.pop("type")

        subject = d.pop("subject")

        time = d.pop("time")

        datacontenttype = d.pop("datacontenttype")

        schemaversion = d.pop("schemaversion")

        dataschema = d.pop("dataschema")

        sequence = d.pop("sequence")

        data = CloudEventData.from_dict(d.pop("data"))

        def _parse_traceparent(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        traceparent = _parse_traceparent(d.pop("traceparent", UNSET))

        cloud_event = cls(
            specversion=specversion,
            id=id,
            source=source,
            type_=type_,
            subject=subject,
            time=time,
            datacontenttype=datacontenttype,
            schemaversion=schemaversion,
            dataschema=dataschema,
            sequence=sequence,
            data=data,
            traceparent=traceparent,
        )

        cloud_event.additional_properties = d
        return cloud_event

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
