from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.status import Status
from ..types import UNSET, Unset

T = TypeVar("T", bound="RunFilter")


@_attrs_define
class RunFilter:
    """Which runs: every filter given narrows the selection (AND); a filter taking several
    values matches any of them unless it says otherwise (docs/filtering.md).

        Attributes:
            experiment_id (list[UUID] | Unset): Runs of any of these experiments.
            status (list[Status] | Unset):
            tag (list[str] | Unset): Runs carrying all of these tags.
            tag_any (list[str] | Unset): Runs carrying any of these tags.
            tag_none (list[str] | Unset): Runs carrying none of these tags.
            name_prefix (None | str | Unset):
            name_contains (None | str | Unset): Runs whose name contains this text, ignoring case.
            git_sha (None | str | Unset): A full commit id or a prefix of at least 7 hex characters (else 400).
            git_branch (list[str] | Unset): Runs on any of these branches.
            participant (list[str] | Unset): Runs with any of these participants.
            sensor (list[str] | Unset): Runs with a capture session linked to any of these sensors.
            created_by (list[str] | Unset): Runs created by any of these.
            params (list[str] | Unset): Comparisons on params, all of which must hold: `key=value`, `key!=value`,
                `key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the key.
            filter_ (None | str | Unset): An expression over the same fields (AIP-160 subset: AND, OR, NOT, parentheses, =
                != < <= > >= and : for has), e.g. `status = "running" AND params.lr < 0.01`; see docs/filtering.md.
            created_after (datetime.datetime | None | Unset):
            created_before (datetime.datetime | None | Unset):
            started_after (datetime.datetime | None | Unset):
            started_before (datetime.datetime | None | Unset):
            finished_after (datetime.datetime | None | Unset):
            finished_before (datetime.datetime | None | Unset):
    """

    experiment_id: list[UUID] | Unset = UNSET
    status: list[Status] | Unset = UNSET
    tag: list[str] | Unset = UNSET
    tag_any: list[str] | Unset = UNSET
    tag_none: list[str] | Unset = UNSET
    name_prefix: None | str | Unset = UNSET
    name_contains: None | str | Unset = UNSET
    git_sha: None | str | Unset = UNSET
    git_branch: list[str] | Unset = UNSET
    participant: list[str] | Unset = UNSET
    sensor: list[str] | Unset = UNSET
    created_by: list[str] | Unset = UNSET
    params: list[str] | Unset = UNSET
    filter_: None | str | Unset = UNSET
    created_after: datetime.datetime | None | Unset = UNSET
    created_before: datetime.datetime | None | Unset = UNSET
    started_after: datetime.datetime | None | Unset = UNSET
    started_before: datetime.datetime | None | Unset = UNSET
    finished_after: datetime.datetime | None | Unset = UNSET
    finished_before: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        experiment_id: list[str] | Unset = UNSET
        if not isinstance(self.experiment_id, Unset):
            experiment_id = []
            for experiment_id_item_data in self.experiment_id:
                experiment_id_item = str(experiment_id_item_data)
                experiment_id.append(experiment_id_item)

        status: list[str] | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = []
            for status_item_data in self.status:
                status_item = status_item_data.value
                status.append(status_item)

        tag: list[str] | Unset = UNSET
        if not isinstance(self.tag, Unset):
            tag = self.tag

        tag_any: list[str] | Unset = UNSET
        if not isinstance(self.tag_any, Unset):
            tag_any = self.tag_any

        tag_none: list[str] | Unset = UNSET
        if not isinstance(self.tag_none, Unset):
            tag_none = self.tag_none

        name_prefix: None | str | Unset
        if isinstance(self.name_prefix, Unset):
            name_prefix = UNSET
        else:
            name_prefix = self.name_prefix

        name_contains: None | str | Unset
        if isinstance(self.name_contains, Unset):
            name_contains = UNSET
        else:
            name_contains = self.name_contains

        git_sha: None | str | Unset
        if isinstance(self.git_sha, Unset):
            git_sha = UNSET
        else:
            git_sha = self.git_sha

        git_branch: list[str] | Unset = UNSET
        if not isinstance(self.git_branch, Unset):
            git_branch = self.git_branch

        participant: list[str] | Unset = UNSET
        if not isinstance(self.participant, Unset):
            participant = self.participant

        sensor: list[str] | Unset = UNSET
        if not isinstance(self.sensor, Unset):
            sensor = self.sensor

        created_by: list[str] | Unset = UNSET
        if not isinstance(self.created_by, Unset):
            created_by = self.created_by

        params: list[str] | Unset = UNSET
        if not isinstance(self.params, Unset):
            params = self.params

        filter_: None | str | Unset
        if isinstance(self.filter_, Unset):
            filter_ = UNSET
        else:
            filter_ = self.filter_

        created_after: None | str | Unset
        if isinstance(self.created_after, Unset):
            created_after = UNSET
        elif isinstance(self.created_after, datetime.datetime):
            created_after = self.created_after.isoformat()
        else:
            created_after = self.created_after

        created_before: None | str | Unset
        if isinstance(self.created_before, Unset):
            created_before = UNSET
        elif isinstance(self.created_before, datetime.datetime):
            created_before = self.created_before.isoformat()
        else:
            created_before = self.created_before

        started_after: None | str | Unset
        if isinstance(self.started_after, Unset):
            started_after = UNSET
        elif isinstance(self.started_after, datetime.datetime):
            started_after = self.started_after.isoformat()
        else:
            started_after = self.started_after

        started_before: None | str | Unset
        if isinstance(self.started_before, Unset):
            started_before = UNSET
        elif isinstance(self.started_before, datetime.datetime):
            started_before = self.started_before.isoformat()
        else:
            started_before = self.started_before

        finished_after: None | str | Unset
        if isinstance(self.finished_after, Unset):
            finished_after = UNSET
        elif isinstance(self.finished_after, datetime.datetime):
            finished_after = self.finished_after.isoformat()
        else:
            finished_after = self.finished_after

        finished_before: None | str | Unset
        if isinstance(self.finished_before, Unset):
            finished_before = UNSET
        elif isinstance(self.finished_before, datetime.datetime):
            finished_before = self.finished_before.isoformat()
        else:
            finished_before = self.finished_before

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if experiment_id is not UNSET:
            field_dict["experiment_id"] = experiment_id
        if status is not UNSET:
            field_dict["status"] = status
        if tag is not UNSET:
            field_dict["tag"] = tag
        if tag_any is not UNSET:
            field_dict["tag_any"] = tag_any
        if tag_none is not UNSET:
            field_dict["tag_none"] = tag_none
        if name_prefix is not UNSET:
            field_dict["name_prefix"] = name_prefix
        if name_contains is not UNSET:
            field_dict["name_contains"] = name_contains
        if git_sha is not UNSET:
            field_dict["git_sha"] = git_sha
        if git_branch is not UNSET:
            field_dict["git_branch"] = git_branch
        if participant is not UNSET:
            field_dict["participant"] = participant
        if sensor is not UNSET:
            field_dict["sensor"] = sensor
        if created_by is not UNSET:
            field_dict["created_by"] = created_by
        if params is not UNSET:
            field_dict["params"] = params
        if filter_ is not UNSET:
            field_dict["filter"] = filter_
        if created_after is not UNSET:
            field_dict["created_after"] = created_after
        if created_before is not UNSET:
            field_dict["created_before"] = created_before
        if started_after is not UNSET:
            field_dict["started_after"] = started_after
        if started_before is not UNSET:
            field_dict["started_before"] = started_before
        if finished_after is not UNSET:
            field_dict["finished_after"] = finished_after
        if finished_before is not UNSET:
            field_dict["finished_before"] = finished_before

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _experiment_id = d.pop("experiment_id", UNSET)
        experiment_id: list[UUID] | Unset = UNSET
        if _experiment_id is not UNSET:
            experiment_id = []
            for experiment_id_item_data in _experiment_id:
                experiment_id_item = UUID(experiment_id_item_data)

                experiment_id.append(experiment_id_item)

        _status = d.pop("status", UNSET)
        status: list[Status] | Unset = UNSET
        if _status is not UNSET:
            status = []
            for status_item_data in _status:
                status_item = Status(status_item_data)

                status.append(status_item)

        tag = cast(list[str], d.pop("tag", UNSET))

        tag_any = cast(list[str], d.pop("tag_any", UNSET))

        tag_none = cast(list[str], d.pop("tag_none", UNSET))

        def _parse_name_prefix(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name_prefix = _parse_name_prefix(d.pop("name_prefix", UNSET))

        def _parse_name_contains(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name_contains = _parse_name_contains(d.pop("name_contains", UNSET))

        def _parse_git_sha(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        git_sha = _parse_git_sha(d.pop("git_sha", UNSET))

        git_branch = cast(list[str], d.pop("git_branch", UNSET))

        participant = cast(list[str], d.pop("participant", UNSET))

        sensor = cast(list[str], d.pop("sensor", UNSET))

        created_by = cast(list[str], d.pop("created_by", UNSET))

        params = cast(list[str], d.pop("params", UNSET))

        def _parse_filter_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        filter_ = _parse_filter_(d.pop("filter", UNSET))

        def _parse_created_after(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                created_after_type_0 = datetime.datetime.fromisoformat(data)

                return created_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        created_after = _parse_created_after(d.pop("created_after", UNSET))

        def _parse_created_before(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                created_before_type_0 = datetime.datetime.fromisoformat(data)

                return created_before_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        created_before = _parse_created_before(d.pop("created_before", UNSET))

        def _parse_started_after(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_after_type_0 = datetime.datetime.fromisoformat(data)

                return started_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_after = _parse_started_after(d.pop("started_after", UNSET))

        def _parse_started_before(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_before_type_0 = datetime.datetime.fromisoformat(data)

                return started_before_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_before = _parse_started_before(d.pop("started_before", UNSET))

        def _parse_finished_after(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_after_type_0 = datetime.datetime.fromisoformat(data)

                return finished_after_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_after = _parse_finished_after(d.pop("finished_after", UNSET))

        def _parse_finished_before(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_before_type_0 = datetime.datetime.fromisoformat(data)

                return finished_before_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        finished_before = _parse_finished_before(d.pop("finished_before", UNSET))

        run_filter = cls(
            experiment_id=experiment_id,
            status=status,
            tag=tag,
            tag_any=tag_any,
            tag_none=tag_none,
            name_prefix=name_prefix,
            name_contains=name_contains,
            git_sha=git_sha,
            git_branch=git_branch,
            participant=participant,
            sensor=sensor,
            created_by=created_by,
            params=params,
            filter_=filter_,
            created_after=created_after,
            created_before=created_before,
            started_after=started_after,
            started_before=started_before,
            finished_after=finished_after,
            finished_before=finished_before,
        )

        return run_filter
