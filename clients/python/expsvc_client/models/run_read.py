from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.status import Status

if TYPE_CHECKING:
    from ..models.run_read_params import RunReadParams


T = TypeVar("T", bound="RunRead")


@_attrs_define
class RunRead:
    """
    Attributes:
        id (UUID):
        experiment_id (UUID):
        name (str):
        status (Status):
        tags (list[str]):
        params (RunReadParams):
        participants (list[str]):
        sensors (list[str]): The sensors of the run's capture sessions (read-only, sorted; kept by the database as
            captures are linked: the `sensor` filter reads it).
        git_sha (None | str):
        git_branch (None | str):
        git_repository (None | str):
        failure_reason (None | str):
        created_by (str):
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        started_at (datetime.datetime | None):
        finished_at (datetime.datetime | None):
        archived_at (datetime.datetime | None):
        last_heartbeat_at (datetime.datetime | None):
        heartbeat_timeout_seconds (int | None):
        max_duration_seconds (int | None):
        version (int):
    """

    id: UUID
    experiment_id: UUID
    name: str
    status: Status
    tags: list[str]
    params: RunReadParams
    participants: list[str]
    sensors: list[str]
    git_sha: None | str
    git_branch: None | str
    git_repository: None | str
    failure_reason: None | str
    created_by: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    archived_at: datetime.datetime | None
    last_heartbeat_at: datetime.datetime | None
    heartbeat_timeout_seconds: int | None
    max_duration_seconds: int | None
    version: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        experiment_id = str(self.experiment_id)

        name = self.name

        status = self.status.value

        tags = self.tags

        params = self.params.to_dict()

        participants = self.participants

        sensors = self.sensors

        git_sha: None | str
        git_sha = self.git_sha

        git_branch: None | str
        git_branch = self.git_branch

        git_repository: None | str
        git_repository = self.git_repository

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

        last_heartbeat_at: None | str
        if isinstance(self.last_heartbeat_at, datetime.datetime):
            last_heartbeat_at = self.last_heartbeat_at.isoformat()
        else:
            last_heartbeat_at = self.last_heartbeat_at

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
                "experiment_id": experiment_id,
                "name": name,
                "status": status,
                "tags": tags,
                "params": params,
                "participants": participants,
                "sensors": sensors,
                "git_sha": git_sha,
                "git_branch": git_branch,
                "git_repository": git_repository,
                "failure_reason": failure_reason,
                "created_by": created_by,
                "created_at": created_at,
                "updated_at": updated_at,
                "started_at": started_at,
                "finished_at": finished_at,
                "archived_at": archived_at,
                "last_heartbeat_at": last_heartbeat_at,
                "heartbeat_timeout_seconds": heartbeat_timeout_seconds,
                "max_duration_seconds": max_duration_seconds,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_read_params import RunReadParams  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        experiment_id = UUID(d.pop("experiment_id"))

        name = d.pop("name")

        status = Status(d.pop("status"))

        tags = cast(list[str], d.pop("tags"))

        params = RunReadParams.from_dict(d.pop("params"))

        participants = cast(list[str], d.pop("participants"))

        sensors = cast(list[str], d.pop("sensors"))

        def _parse_git_sha(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        git_sha = _parse_git_sha(d.pop("git_sha"))

        def _parse_git_branch(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        git_branch = _parse_git_branch(d.pop("git_branch"))

        def _parse_git_repository(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        git_repository = _parse_git_repository(d.pop("git_repository"))

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

        def _parse_last_heartbeat_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_heartbeat_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_heartbeat_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        last_heartbeat_at = _parse_last_heartbeat_at(d.pop("last_heartbeat_at"))

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

        run_read = cls(
            id=id,
            experiment_id=experiment_id,
            name=name,
            status=status,
            tags=tags,
            params=params,
            participants=participants,
            sensors=sensors,
            git_sha=git_sha,
            git_branch=git_branch,
            git_repository=git_repository,
            failure_reason=failure_reason,
            created_by=created_by,
            created_at=created_at,
            updated_at=updated_at,
            started_at=started_at,
            finished_at=finished_at,
            archived_at=archived_at,
            last_heartbeat_at=last_heartbeat_at,
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            max_duration_seconds=max_duration_seconds,
            version=version,
        )

        run_read.additional_properties = d
        return run_read

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
