from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..models.bulk_mode import BulkMode
from ..models.run_bulk_action import RunBulkAction
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.run_bulk_transition_expected_versions import RunBulkTransitionExpectedVersions
    from ..models.run_filter import RunFilter


T = TypeVar("T", bound="RunBulkTransition")


@_attrs_define
class RunBulkTransition:
    """``POST /v1/runs/bulk/transition``: one lifecycle action on many runs.

    Attributes:
        action (RunBulkAction):
        ids (list[UUID] | Unset): The entities to change, at most 10000; duplicates count once. Give either ids or
            filter.
        expected_versions (RunBulkTransitionExpectedVersions | Unset): If-Match per entity: id → the version you read.
            An entity at another version is precondition_failed. Only with ids; every key must be one of them.
        mode (BulkMode | Unset):
        dry_run (bool | Unset): Report the outcomes (counts and a sample of items) without changing anything. Default:
            False.
        reason (str | Unset): Recorded in every status-history row; required for fail (failure_reason).
        filter_ (RunFilter | Unset): Which runs: every filter given narrows the selection (AND); a filter taking several
            values matches any of them unless it says otherwise (docs/filtering.md).
    """

    action: RunBulkAction
    ids: list[UUID] | Unset = UNSET
    expected_versions: RunBulkTransitionExpectedVersions | Unset = UNSET
    mode: BulkMode | Unset = UNSET
    dry_run: bool | Unset = False
    reason: str | Unset = UNSET
    filter_: RunFilter | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        action = self.action.value

        ids: list[str] | Unset = UNSET
        if not isinstance(self.ids, Unset):
            ids = []
            for ids_item_data in self.ids:
                ids_item = str(ids_item_data)
                ids.append(ids_item)

        expected_versions: dict[str, Any] | Unset = UNSET
        if not isinstance(self.expected_versions, Unset):
            expected_versions = self.expected_versions.to_dict()

        mode: str | Unset = UNSET
        if not isinstance(self.mode, Unset):
            mode = self.mode.value

        dry_run = self.dry_run

        reason = self.reason

        filter_: dict[str, Any] | Unset = UNSET
        if not isinstance(self.filter_, Unset):
            filter_ = self.filter_.to_dict()

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
        from ..models.run_bulk_transition_expected_versions import RunBulkTransitionExpectedVersions  # noqa: PLC0415
        from ..models.run_filter import RunFilter  # noqa: PLC0415

        d = dict(src_dict)
        action = RunBulkAction(d.pop("action"))

        _ids = d.pop("ids", UNSET)
        ids: list[UUID] | Unset = UNSET
        if _ids is not UNSET:
            ids = []
            for ids_item_data in _ids:
                ids_item = UUID(ids_item_data)

                ids.append(ids_item)

        _expected_versions = d.pop("expected_versions", UNSET)
        expected_versions: RunBulkTransitionExpectedVersions | Unset
        if isinstance(_expected_versions, Unset):
            expected_versions = UNSET
        else:
            expected_versions = RunBulkTransitionExpectedVersions.from_dict(_expected_versions)

        _mode = d.pop("mode", UNSET)
        mode: BulkMode | Unset
        if isinstance(_mode, Unset):
            mode = UNSET
        else:
            mode = BulkMode(_mode)

        dry_run = d.pop("dry_run", UNSET)

        reason = d.pop("reason", UNSET)

        _filter_ = d.pop("filter", UNSET)
        filter_: RunFilter | Unset
        if isinstance(_filter_, Unset):
            filter_ = UNSET
        else:
            filter_ = RunFilter.from_dict(_filter_)

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
