from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.status import Status

if TYPE_CHECKING:
    from ..models.experiment_read_params import ExperimentReadParams


T = TypeVar("T", bound="ExperimentRead")


@_attrs_define
class ExperimentRead:
    """
    Attributes:
        id (UUID):
        name (str):
        description (None | str):
        status (Status):
        tags (list[str]):
        params (ExperimentReadParams):
        participants (list[str]):
        failure_reason (None | str):
        created_by (str):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        started_at (datetime.datetime | None):
        finished_at (datetime.datetime | None):
        archived_at (datetime.datetime | None):
        heartbeat_timeout_seconds (int | None):
        max_duration_seconds (int | None):
        version (int): Increments on every change; the ETag is derived from it.
    """

    id: UUID
    name: str
    description: None | str
    status: Status
    tags: list[str]
    params: ExperimentReadParams
    participants: list[str]
    failure_reason: None | str
    created_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    archived_at: datetime.datetime | None
    heartbeat_timeout_seconds: int | None
    max_duration_seconds: int | None
    version: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        name = self.name

        description: None | str
        description = self.description

        status = self.status.value

        tags = self.tags

        params = self.params.to_dict()

        participants = self.participants

        failure_reason: None | str
        failure_reason = self.failure_reason

        created_by = self.created_by

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        started_at: None | str
        if isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        archived_at: None | str
        if isinstance(self.archived_at, datetime.datetime):
            archived_at = self.archived_at.isoformat()
        else:
            archived_at = self.archived_at

        heartbeat_timeout_seconds: int | None
        heartbeat_timeout_seconds = self.heartbeat_timeout_seconds

        max_duration_seconds: int | None
        max_duration_seconds = self.max_duration_seconds

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "name": name,
                "description": description,
                "status": status,
                "tags": tags,
                "params": params,
                "participants": participants,
                "failure_reason": failure_reason,
                "created_by": created_by,
                "created_at": created_at,
                "updated_at": updated_at,
                "started_at": started_at,
                "finished_at": finished_at,
                "archived_at": archived_at,
                "heartbeat_timeout_seconds": heartbeat_timeout_seconds,
                "max_duration_seconds": max_duration_seconds,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.experiment_read_params import ExperimentReadParams  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        name = d.pop("name")

        def _parse_description(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        description = _parse_description(d.pop("description"))

        status = Status(d.pop("status"))

        tags = cast(list[str], d.pop("tags"))

        params = ExperimentReadParams.from_dict(d.pop("params"))

        participants = cast(list[str], d.pop("participants"))

        def _parse_failure_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        failure_reason = _parse_failure_reason(d.pop("failure_reason"))

        created_by = d.pop("created_by")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_started_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        started_at = _parse_started_at(d.pop("started_at"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        def _parse_archived_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                archived_at_type_0 = datetime.datetime.fromisoformat(data)

                return archived_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        archived_at = _parse_archived_at(d.pop("archived_at"))

        def _parse_heartbeat_timeout_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        heartbeat_timeout_seconds = _parse_heartbeat_timeout_seconds(d.pop("heartbeat_timeout_seconds"))

        def _parse_max_duration_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        max_duration_seconds = _parse_max_duration_seconds(d.pop("max_duration_seconds"))

        version = d.pop("version")

        experiment_read = cls(
            id=id,
            name=name,
            description=description,
            status=status,
            tags=tags,
            params=params,
            participants=participants,
            failure_reason=failure_reason,
            created_by=created_by,
            created_at=created_at,
            updated_at=updated_at,
            started_at=started_at,
            finished_at=finished_at,
            archived_at=archived_at,
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            max_duration_seconds=max_duration_seconds,
            version=version,
        )

        experiment_read.additional_properties = d
        return experiment_read

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
