from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CaptureUpdate")


@_attrs_define
class CaptureUpdate:
    """Replace the sensors of a draft or running capture session.

    Attributes:
        sensors (list[str] | None | Unset):
    """

    sensors: list[str] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        sensors: list[str] | None | Unset
        if isinstance(self.sensors, Unset):
            sensors = UNSET
        elif isinstance(self.sensors, list):
            sensors = self.sensors

        else:
            sensors = self.sensors

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if sensors is not UNSET:
            field_dict["sensors"] = sensors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_sensors(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                sensors_type_0 = cast(list[str], data)

                return sensors_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        sensors = _parse_sensors(d.pop("sensors", UNSET))

        capture_update = cls(
            sensors=sensors,
        )

        return capture_update
