from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.auth_mode import AuthMode

T = TypeVar("T", bound="MeRead")


@_attrs_define
class MeRead:
    """
    Attributes:
        principal (str):
        groups (list[str]): Sorted.
        is_admin (bool):
        auth_mode (AuthMode):
    """

    principal: str
    groups: list[str]
    is_admin: bool
    auth_mode: AuthMode
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        principal = self.principal

        groups = self.groups

        is_admin = self.is_admin

        auth_mode = self.auth_mode.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "principal": principal,
                "groups": groups,
                "is_admin": is_admin,
                "auth_mode": auth_mode,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        principal = d.pop("principal")

        groups = cast(list[str], d.pop("groups"))

        is_admin = d.pop("is_admin")

        auth_mode = AuthMode(d.pop("auth_mode"))

        me_read = cls(
            principal=principal,
            groups=groups,
            is_admin=is_admin,
            auth_mode=auth_mode,
        )

        me_read.additional_properties = d
        return me_read

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
