from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.role import Role
from ..types import UNSET, Unset

T = TypeVar("T", bound="GrantRead")


@_attrs_define
class GrantRead:
    """
    Attributes:
        role (Role):
        granted_by (str):
        granted_at (datetime.datetime):
        principal (None | str | Unset): Set when the grant is to a principal.
        group (None | str | Unset): Set when the grant is to a group.
    """

    role: Role
    granted_by: str
    granted_at: datetime.datetime
    principal: None | str | Unset = UNSET
    group: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        role = self.role.value

        granted_by = self.granted_by

        granted_at = self.granted_at.isoformat()

        principal: None | str | Unset
        if isinstance(self.principal, Unset):
            principal = UNSET
        else:
            principal = self.principal

        group: None | str | Unset
        if isinstance(self.group, Unset):
            group = UNSET
        else:
            group = self.group

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "role": role,
                "granted_by": granted_by,
                "granted_at": granted_at,
            }
        )
        if principal is not UNSET:
            field_dict["principal"] = principal
        if group is not UNSET:
            field_dict["group"] = group

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        role = Role(d.pop("role"))

        granted_by = d.pop("granted_by")

        granted_at = datetime.datetime.fromisoformat(d.pop("granted_at"))

        def _parse_principal(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        principal = _parse_principal(d.pop("principal", UNSET))

        def _parse_group(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        group = _parse_group(d.pop("group", UNSET))

        grant_read = cls(
            role=role,
            granted_by=granted_by,
            granted_at=granted_at,
            principal=principal,
            group=group,
        )

        grant_read.additional_properties = d
        return grant_read

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
