from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.result import Result
from ..types import UNSET, Unset

T = TypeVar("T", bound="EventResult")


@_attrs_define
class EventResult:
    """
    Attributes:
        index (int): Position of the event in the batch (from 0).
        id (None | str): The event's id (null when it had no valid one).
        type_ (None | str):
        result (Result):
        reason (None | str | Unset): Why it was rejected, as a problem slug (docs/errors.md), e.g. run-not-running,
            invalid-transition, invalid-event, unknown-event-type, stale-event.
        detail (None | str | Unset):
        original_result (None | Result | Unset): For a duplicate: what the first delivery came to.
    """

    index: int
    id: None | str
    type_: None | str
    result: Result
    reason: None | str | Unset = UNSET
    detail: None | str | Unset = UNSET
    original_result: None | Result | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        index = self.index

        id: None | str
        id = self.id

        type_: None | str
        type_ = self.type_

        result = self.result.value

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        original_result: None | str | Unset
        if isinstance(self.original_result, Unset):
            original_result = UNSET
        elif isinstance(self.original_result, Result):
            original_result = self.original_result.value
        else:
            original_result = self.original_result

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "index": index,
                "id": id,
                "type": type_,
                "result": result,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason
        if detail is not UNSET:
            field_dict["detail"] = detail
        if original_result is not UNSET:
            field_dict["original_result"] = original_result

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        index = d.pop("index")

        def _parse_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        id = _parse_id(d.pop("id"))

        def _parse_type_(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        type_ = _parse_type_(d.pop("type"))

        result = Result(d.pop("result"))

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_original_result(data: object) -> None | Result | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                original_result_type_0 = Result(data)

                return original_result_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Result | Unset, data)

        original_result = _parse_original_result(d.pop("original_result", UNSET))

        event_result = cls(
            index=index,
            id=id,
            type_=type_,
            result=result,
            reason=reason,
            detail=detail,
            original_result=original_result,
        )

        event_result.additional_properties = d
        return event_result

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
