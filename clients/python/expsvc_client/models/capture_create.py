from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CaptureCreate")


@_attrs_define
class CaptureCreate:
    """A draft capture session of the run named by the path.

    Attributes:
        capture_session_id (None | str | Unset): Unique; when omitted the service uses the session's own id (a UUID).
        sensors (list[str] | Unset): A set: duplicates are merged and the ids sorted.
    """

    capture_session_id: None | str | Unset = UNSET
    sensors: list[str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        capture_session_id: None | str | Unset
        if isinstance(self.capture_session_id, Unset):
            capture_session_id = UNSET
        else:
            capture_session_id = self.capture_session_id

        sensors: list[str] | Unset = UNSET
        if not isinstance(self.sensors, Unset):
            sensors = self.sensors

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if capture_session_id is not UNSET:
            field_dict["capture_session_id"] = capture_session_id
        if sensors is not UNSET:
            field_dict["sensors"] = sensors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_capture_session_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        capture_session_id = _parse_capture_session_id(d.pop("capture_session_id", UNSET))

        sensors = cast(list[str], d.pop("sensors", UNSET))

        capture_create = cls(
            capture_session_id=capture_session_id,
            sensors=sensors,
        )

        return capture_create
