from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="ApiTokenCreate")


@_attrs_define
class ApiTokenCreate:
    """
    Attributes:
        name (str): What the token is for (not unique).
        principal (None | str | Unset): Who the token acts as (a service account); default: the caller. Names reserved
            for the service (system:..., expsvc-worker, ...) are refused.
        groups (list[str] | Unset):
        expires_in_days (int | Unset):  Default: 90.
    """

    name: str
    principal: None | str | Unset = UNSET
    groups: list[str] | Unset = UNSET
    expires_in_days: int | Unset = 90

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        principal: None | str | Unset
        if isinstance(self.principal, Unset):
            principal = UNSET
        else:
            principal = self.principal

        groups: list[str] | Unset = UNSET
        if not isinstance(self.groups, Unset):
            groups = self.groups

        expires_in_days = self.expires_in_days

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if principal is not UNSET:
            field_dict["principal"] = principal
        if groups is not UNSET:
            field_dict["groups"] = groups
        if expires_in_days is not UNSET:
            field_dict["expires_in_days"] = expires_in_days

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        def _parse_principal(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        principal = _parse_principal(d.pop("principal", UNSET))

        groups = cast(list[str], d.pop("groups", UNSET))

        expires_in_days = d.pop("expires_in_days", UNSET)

        api_token_create = cls(
            name=name,
            principal=principal,
            groups=groups,
            expires_in_days=expires_in_days,
        )

        return api_token_create
