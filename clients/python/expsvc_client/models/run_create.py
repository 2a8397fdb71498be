from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.run_create_params import RunCreateParams


T = TypeVar("T", bound="RunCreate")


@_attrs_define
class RunCreate:
    """A run inside the experiment named by the path.

    Attributes:
        name (str):
        tags (list[str] | Unset): A set: duplicates are merged, order is not kept.
        params (RunCreateParams | Unset): Free-form JSON object, at most 65536 bytes serialised; its integers within 64
            bits (-2^63 to 2^64 - 1), as RFC 8259 section 6 allows.
        participants (list[str] | Unset):
        git_sha (None | str | Unset):
        git_branch (None | str | Unset):
        git_repository (None | str | Unset):
        heartbeat_timeout_seconds (int | None | Unset):
        max_duration_seconds (int | None | Unset):
    """

    name: str
    tags: list[str] | Unset = UNSET
    params: RunCreateParams | Unset = UNSET
    participants: list[str] | Unset = UNSET
    git_sha: None | str | Unset = UNSET
    git_branch: None | str | Unset = UNSET
    git_repository: None | str | Unset = UNSET
    heartbeat_timeout_seconds: int | None | Unset = UNSET
    max_duration_seconds: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        tags: list[str] | Unset = UNSET
        if not isinstance(self.tags, Unset):
            tags = self.tags

        params: dict[str, Any] | Unset = UNSET
        if not isinstance(self.params, Unset):
            params = self.params.to_dict()

        participants: list[str] | Unset = UNSET
        if not isinstance(self.participants, Unset):
            participants = self.participants

        git_sha: None | str | Unset
        if isinstance(self.git_sha, Unset):
            git_sha = UNSET
        else:
            git_sha = self.git_sha

        git_branch: None | str | Unset
        if isinstance(self.git_branch, Unset):
            git_branch = UNSET
        else:
            git_branch = self.git_branch

        git_repository: None | str | Unset
        if isinstance(self.git_repository, Unset):
            git_repository = UNSET
        else:
            git_repository = self.git_repository

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

        field_dict.update(
            {
                "name": name,
            }
        )
        if tags is not UNSET:
            field_dict["tags"] = tags
        if params is not UNSET:
            field_dict["params"] = params
        if participants is not UNSET:
            field_dict["participants"] = participants
        if git_sha is not UNSET:
            field_dict["git_sha"] = git_sha
        if git_branch is not UNSET:
            field_dict["git_branch"] = git_branch
        if git_repository is not UNSET:
            field_dict["git_repository"] = git_repository
        if heartbeat_timeout_seconds is not UNSET:
            field_dict["heartbeat_timeout_seconds"] = heartbeat_timeout_seconds
        if max_duration_seconds is not UNSET:
            field_dict["max_duration_seconds"] = max_duration_seconds

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_create_params import RunCreateParams  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        tags = cast(list[str], d.pop("tags", UNSET))

        _params = d.pop("params", UNSET)
        params: RunCreateParams | Unset
        if isinstance(_params, Unset):
            params = UNSET
        else:
            params = RunCreateParams.from_dict(_params)

        participants = cast(list[str], d.pop("participants", UNSET))

        def _parse_git_sha(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        git_sha = _parse_git_sha(d.pop("git_sha", UNSET))

        def _parse_git_branch(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        git_branch = _parse_git_branch(d.pop("git_branch", UNSET))

        def _parse_git_repository(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        git_repository = _parse_git_repository(d.pop("git_repository", UNSET))

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

        run_create = cls(
            name=name,
            tags=tags,
            params=params,
            participants=participants,
            git_sha=git_sha,
            git_branch=git_branch,
            git_repository=git_repository,
            heartbeat_timeout_seconds=heartbeat_timeout_seconds,
            max_duration_seconds=max_duration_seconds,
        )

        return run_create
