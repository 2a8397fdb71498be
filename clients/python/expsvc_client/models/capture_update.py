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
        sensors (list[str] | Unset): A set: duplicates are merged and the ids sorted.
    """

    sensors: list[str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        sensors: list[str] | Unset = UNSET
        if not isinstance(self.sensors, Unset):
            sensors = self.sensors

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if sensors is not UNSET:
            field_dict["sensors"] = sensors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sensors = cast(list[str], d.pop("sensors", UNSET))

        capture_update = cls(
            sensors=sensors,
        )

        return capture_update
