from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.experiment_update_params_type_0 import ExperimentUpdateParamsType0


T = TypeVar("T", bound="ExperimentUpdate")


@_attrs_define
class ExperimentUpdate:
    """Only the fields present are changed; ``null`` clears the description and the limits.

    Attributes:
        name (None | str | Unset):
        description (None | str | Unset):
        tags (list[str] | None | Unset):
        params (ExperimentUpdateParamsType0 | None | Unset):
        participants (list[str] | None | Unset):
        heartbeat_timeout_seconds (int | None | Unset):
        max_duration_seconds (int | None | Unset):
    """

    name: None | str | Unset = UNSET
    description: None | str | Unset = UNSET
    tags: list[str] | None | Unset = UNSET
    params: ExperimentUpdateParamsType0 | None | Unset = UNSET
    participants: list[str] | None | Unset = UNSET
    heartbeat_timeout_seconds: int | None | Unset = UNSET
    max_duration_seconds: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.experiment_update_params_type_0 import ExperimentUpdateParamsType0  # noqa: PLC0415

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        tags: list[str] | None | Unset
        if isinstance(self.tags, Unset):
            tags = UNSET
        elif isinstance(self.tags, list):
            tags = self.tags

        else:
            tags = self.tags

        params: dict[str, Any] | None | Unset
        if isinstance(self.params, Unset):
            params = UNSET
        elif isinstance(self.params, ExperimentUpdateParamsType0):
            params = self.params.to_dict()
        else:
            params = self.params

        participants: list[str] | None | Unset
        if isinstance(self.participants, Unset):
            participants = UNSET
        elif isinstance(self.participants, list):
            participants = self.participants

        else:
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
        from ..models.experiment_update_params_type_0 import ExperimentUpdateParamsType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_tags(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                tags_type_0 = cast(list[str], data)

                return tags_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        tags = _parse_tags(d.pop("tags", UNSET))

        def _parse_params(data: object) -> ExperimentUpdateParamsType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                params_type_0 = ExperimentUpdateParamsType0.from_dict(data)

                return params_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExperimentUpdateParamsType0 | None | Unset, data)

        params = _parse_params(d.pop("params", UNSET))

        def _parse_participants(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                participants_type_0 = cast(list[str], data)

                return participants_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        participants = _parse_participants(d.pop("participants", UNSET))

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
