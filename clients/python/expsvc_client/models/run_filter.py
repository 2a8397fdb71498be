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
    """Which runs: every filter given narrows the selection (AND).

    Attributes:
        experiment_id (None | Unset | UUID):
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        name_prefix (None | str | Unset):
        created_after (datetime.datetime | None | Unset):
        created_before (datetime.datetime | None | Unset):
        started_after (datetime.datetime | None | Unset):
        started_before (datetime.datetime | None | Unset):
        finished_after (datetime.datetime | None | Unset):
        finished_before (datetime.datetime | None | Unset):
    """

    experiment_id: None | Unset | UUID = UNSET
    status: list[Status] | Unset = UNSET
    tag: list[str] | Unset = UNSET
    name_prefix: None | str | Unset = UNSET
    created_after: datetime.datetime | None | Unset = UNSET
    created_before: datetime.datetime | None | Unset = UNSET
    started_after: datetime.datetime | None | Unset = UNSET
    started_before: datetime.datetime | None | Unset = UNSET
    finished_after: datetime.datetime | None | Unset = UNSET
    finished_before: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        experiment_id: None | str | Unset
        if isinstance(self.experiment_id, Unset):
            experiment_id = UNSET
        elif isinstance(self.experiment_id, UUID):
            experiment_id = str(self.experiment_id)
        else:
            experiment_id = self.experiment_id

        status: list[str] | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = []
            for status_item_data in self.status:
                status_item = status_item_data.value
                status.append(status_item)

        tag: list[str] | Unset = UNSET
        if not isinstance(self.tag, Unset):
            tag = self.tag

        name_prefix: None | str | Unset
        if isinstance(self.name_prefix, Unset):
            name_prefix = UNSET
        else:
            name_prefix = self.name_prefix

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
        if name_prefix is not UNSET:
            field_dict["name_prefix"] = name_prefix
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

        def _parse_experiment_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                experiment_id_type_0 = UUID(data)

                return experiment_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        experiment_id = _parse_experiment_id(d.pop("experiment_id", UNSET))

        _status = d.pop("status", UNSET)
        status: list[Status] | Unset = UNSET
        if _status is not UNSET:
            status = []
            for status_item_data in _status:
                status_item = Status(status_item_data)

                status.append(status_item)

        tag = cast(list[str], d.pop("tag", UNSET))

        def _parse_name_prefix(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name_prefix = _parse_name_prefix(d.pop("name_prefix", UNSET))

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
            name_prefix=name_prefix,
            created_after=created_after,
            created_before=created_before,
            started_after=started_after,
            started_before=started_before,
            finished_after=finished_after,
            finished_before=finished_before,
        )

        return run_filter
