from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..models.status import Status
from ..types import UNSET, Unset

T = TypeVar("T", bound="ExperimentFilter")


@_attrs_define
class ExperimentFilter:
    """Which experiments: every filter given narrows the selection (AND).

    Attributes:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (None | str | Unset): An expression over the experiments' fields (AIP-160 subset: AND, OR, NOT,
            parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND participants:"alice"`; see docs/filtering.md.
    """

    status: list[Status] | Unset = UNSET
    tag: list[str] | Unset = UNSET
    filter_: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        status: list[str] | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = []
            for status_item_data in self.status:
                status_item = status_item_data.value
                status.append(status_item)

        tag: list[str] | Unset = UNSET
        if not isinstance(self.tag, Unset):
            tag = self.tag

        filter_: None | str | Unset
        if isinstance(self.filter_, Unset):
            filter_ = UNSET
        else:
            filter_ = self.filter_

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if status is not UNSET:
            field_dict["status"] = status
        if tag is not UNSET:
            field_dict["tag"] = tag
        if filter_ is not UNSET:
            field_dict["filter"] = filter_

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _status = d.pop("status", UNSET)
        status: list[Status] | Unset = UNSET
        if _status is not UNSET:
            status = []
            for status_item_data in _status:
                status_item = Status(status_item_data)

                status.append(status_item)

        tag = cast(list[str], d.pop("tag", UNSET))

        def _parse_filter_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        filter_ = _parse_filter_(d.pop("filter", UNSET))

        experiment_filter = cls(
            status=status,
            tag=tag,
            filter_=filter_,
        )

        return experiment_filter
