from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.experiment_update_params import ExperimentUpdateParams


T = TypeVar("T", bound="ExperimentUpdate")


@_attrs_define
class ExperimentUpdate:
    """Only the fields present are changed; ``null`` clears the description and the limits.

    Attributes:
        name (str | Unset):
        description (None | str | Unset):
        tags (list[str] | Unset): A set: duplicates are merged, order is not kept.
        params (ExperimentUpdateParams | Unset): Free-form JSON object, at most 65536 bytes serialised; its integers
            within 64 bits (-2^63 to 2^64 - 1), as RFC 8259 section 6 allows.
        participants (list[str] | Unset):
        heartbeat_timeout_seconds (int | None | Unset):
        max_duration_seconds (int | None | Unset):
    """

    name: str | Unset = UNSET
    description: None | str | Unset = UNSET
    tags: list[str] | Unset = UNSET
    params: ExperimentUpdateParams | Unset = UNSET
    participants: list[str] | Unset = UNSET
    heartbeat_timeout_seconds: int | None | Unset = UNSET
    max_duration_seconds: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        tags: list[str] | Unset = UNSET
        if not isinstance(self.tags, Unset):
            tags = self.tags

        params: dict[str, Any] | Unset = UNSET
        if not isinstance(self.params, Unset):
            params = self.params.to_dict()

        participants: list[str] | Unset = UNSET
        if not isinstance(self.participants, Unset):
            participants = self.participants

        heartbeat_timeout_seconds: int | None | Unset
        if isinstance(self.heartbeat_timeout_seconds, Unset):
            heartbeat_timeout_seconds = UNSET
        else:
            heartbeat_timeout_seconds = self.heartbeat_timeout_seconds

        max_duration_seconds: int | None | Unset
        if isinstance(self.max_duration_seconds, Unset):
            max_duration_seconds = UNSET
        else:
            max_duration_seconds = self.max_duration_seconds

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if description is not UNSET:
            field_dict["description"] = description
        if tags is not UNSET:
            field_dict["tags"] = tags
        if params is not UNSET:
            field_dict["params"] = params
        if participants is not UNSET:
            field_dict["participants"] = participants
        if heartbeat_timeout_seconds is not UNSET:
            field_dict["heartbeat_timeout_seconds"] = heartbeat_timeout_seconds
        if max_duration_seconds is not UNSET:
            field_dict["max_duration_seconds"] = max_duration_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.experiment_update_params import ExperimentUpdateParams  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name", UNSET)

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        tags = cast(list[str], d.pop("tags", UNSET))

        _params = d.pop("params", UNSET)
        params: ExperimentUpdateParams | Unset
        if isinstance(_params, Unset):
            params = UNSET
        else:
            params = ExperimentUpdateParams.from_dict(_params)

        participants = cast(list[str], d.pop("participants", UNSET))

        def _parse_heartbeat_timeout_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        heartbeat_timeout_seconds = _parse_heartbeat_timeout_seconds(d.pop("heartbeat_timeout_seconds", UNSET))

        def _parse_max_duration_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_duration_seconds = _parse_max_duration_seconds(d.pop("max_duration_seconds", UNSET))

        experiment_update = cls(
            name=name,
            description=description,
            tags=tags,
            params=params,
            participants=participants,
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            max_duration_seconds=max_duration_seconds,
        )

        return experiment_update
