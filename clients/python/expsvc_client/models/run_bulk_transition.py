from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.bulk_mode import BulkMode
from ..models.run_bulk_action import RunBulkAction
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.run_bulk_transition_expected_versions_type_0 import RunBulkTransitionExpectedVersionsType0
    from ..models.run_filter import RunFilter


T = TypeVar("T", bound="RunBulkTransition")


@_attrs_define
class RunBulkTransition:
    """``POST /v1/runs/bulk/transition``: one lifecycle action on many runs.

    Attributes:
        action (RunBulkAction):
        ids (list[UUID] | None | Unset): The entities to change, at most 10000; duplicates count once. Give either ids
            or filter.
        expected_versions (None | RunBulkTransitionExpectedVersionsType0 | Unset): If-Match per entity: id → the version
            you read. An entity at another version is precondition_failed. Only with ids; every key must be one of them.
        mode (BulkMode | Unset):
        dry_run (bool | Unset): Report the outcomes (counts and a sample of items) without changing anything. Default:
            False.
        reason (None | str | Unset): Recorded in every status-history row; required for fail (failure_reason).
        filter_ (None | RunFilter | Unset): The runs GET /v1/runs would list with these filters (at most 10000).
    """

    action: RunBulkAction
    ids: list[UUID] | None | Unset = UNSET
    expected_versions: None | RunBulkTransitionExpectedVersionsType0 | Unset = UNSET
    mode: BulkMode | Unset = UNSET
    dry_run: bool | Unset = False
    reason: None | str | Unset = UNSET
    filter_: None | RunFilter | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.run_bulk_transition_expected_versions_type_0 import RunBulkTransitionExpectedVersionsType0  # noqa: PLC0415
        from ..models.run_filter import RunFilter  # noqa: PLC0415

        action = self.action.value

        ids: list[str] | None | Unset
        if isinstance(self.ids, Unset):
            ids = UNSET
        elif isinstance(self.ids, list):
            ids = []
            for ids_type_0_item_data in self.ids:
                ids_type_0_item = str(ids_type_0_item_data)
                ids.append(ids_type_0_item)

        else:
            ids = self.ids

        expected_versions: dict[str, Any] | None | Unset
        if isinstance(self.expected_versions, Unset):
            expected_versions = UNSET
        elif isinstance(self.expected_versions, RunBulkTransitionExpectedVersionsType0):
            expected_versions = self.expected_versions.to_dict()
        else:
            expected_versions = self.expected_versions

        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value

        dry_run = self.dry_run

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        filter_: dict[str, Any] | None | Unset
        if isinstance(self.filter_, Unset):
            filter_ = UNSET
        elif isinstance(self.filter_, RunFilter):
            filter_ = self.filter_.to_dict()
        else:
            filter_ = self.filter_

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "action": action,
            }
        )
        if ids is not UNSET:
            field_dict["ids"] = ids
        if expected_versions is not UNSET:
            field_dict["expected_versions"] = expected_versions
        if mode is not UNSET:
            field_dict["mode"] = mode
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run
        if reason is not UNSET:
            field_dict["reason"] = reason
        if filter_ is not UNSET:
            field_dict["filter"] = filter_

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.run_bulk_transition_expected_versions_type_0 import RunBulkTransitionExpectedVersionsType0  # noqa: PLC0415
        from ..models.run_filter import RunFilter  # noqa: PLC0415

        d = dict(src_dict)
        action = RunBulkAction(d.pop("action"))

        def _parse_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                ids_type_0 = []
                _ids_type_0 = data
                for ids_type_0_item_data in _ids_type_0:
                    ids_type_0_item = UUID(ids_type_0_item_data)

                    ids_type_0.append(ids_type_0_item)

                return ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        ids = _parse_ids(d.pop("ids", UNSET))

        def _parse_expected_versions(data: object) -> None | RunBulkTransitionExpectedVersionsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                expected_versions_type_0 = RunBulkTransitionExpectedVersionsType0.from_dict(data)

                return expected_versions_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunBulkTransitionExpectedVersionsType0 | Unset, data)

        expected_versions = _parse_expected_versions(d.pop("expected_versions", UNSET))

        _mode = d.pop("mode", UNSET)
        mode: BulkMode | Unset
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = BulkMode(_mode)

        dry_run = d.pop("dry_run", UNSET)

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        def _parse_filter_(data: object) -> None | RunFilter | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                filter_type_0 = RunFilter.from_dict(data)

                return filter_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | RunFilter | Unset, data)

        filter_ = _parse_filter_(d.pop("filter", UNSET))

        run_bulk_transition = cls(
            action=action,
            ids=ids,
            expected_versions=expected_versions,
            mode=mode,
            dry_run=dry_run,
            reason=reason,
            filter_=filter_,
        )

        return run_bulk_transition
