from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.not_ready_checks import NotReadyChecks
    from ..models.validation_item import ValidationItem


T = TypeVar("T", bound="NotReady")


@_attrs_define
class NotReady:
    """The 503 readiness problem: the problem members plus what was checked.

    Attributes:
        type_ (str):
        title (str):
        status (int):
        version (str): This process's release: X.Y.Z, or X.Y.Z.devN before it.
        schema_revision (None | str): The database's schema revision.
        expected_schema_revision (str): This release's schema head.
        oldest_schema_revision (str): The oldest schema revision this release runs on.
        schema_release (None | str): When the database is ahead of this release: the release that migrated it.
        schema_oldest_compatible_release (None | str): When the database is ahead of this release: the oldest release it
            supports.
        checks (NotReadyChecks): database: ok or unreachable: <error>. schema: ok, behind-compatible or ahead-compatible
            (ready); behind, ahead-incompatible, missing or unknown (not ready).
        detail (None | str | Unset):
        instance (None | str | Unset):
        errors (list[ValidationItem] | None | Unset):
    """

    type_: str
    title: str
    status: int
    version: str
    schema_revision: None | str
    expected_schema_revision: str
    oldest_schema_revision: str
    schema_release: None | str
    schema_oldest_compatible_release: None | str
    checks: NotReadyChecks
    detail: None | str | Unset = UNSET
    instance: None | str | Unset = UNSET
    errors: list[ValidationItem] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        title = self.title

        status = self.status

        version = self.version

        schema_revision: None | str
        schema_revision = self.schema_revision

        expected_schema_revision = self.expected_schema_revision

        oldest_schema_revision = self.oldest_schema_revision

        schema_release: None | str
        schema_release = self.schema_release

        schema_oldest_compatible_release: None | str
        schema_oldest_compatible_release = self.schema_oldest_compatible_release

        checks = self.checks.to_dict()

        detail: None | str | Unset
        if isinstance(self.detail, Unset):
            detail = UNSET
        else:
            detail = self.detail

        instance: None | str | Unset
        if isinstance(self.instance, Unset):
            instance = UNSET
        else:
            instance = self.instance

        errors: list[dict[str, Any]] | None | Unset
        if isinstance(self.errors, Unset):
            errors = UNSET
        elif isinstance(self.errors, list):
            errors = []
            for errors_type_0_item_data in self.errors:
                errors_type_0_item = errors_type_0_item_data.to_dict()
                errors.append(errors_type_0_item)

        else:
            errors = self.errors

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "title": title,
                "status": status,
                "version": version,
                "schema_revision": schema_revision,
                "expected_schema_revision": expected_schema_revision,
                "oldest_schema_revision": oldest_schema_revision,
                "schema_release": schema_release,
                "schema_oldest_compatible_release": schema_oldest_compatible_release,
                "checks": checks,
            }
        )
        if detail is not UNSET:
            field_dict["detail"] = detail
        if instance is not UNSET:
            field_dict["instance"] = instance
        if errors is not UNSET:
            field_dict["errors"] = errors

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.not_ready_checks import NotReadyChecks  # noqa: PLC0415
        from ..models.validation_item import ValidationItem  # noqa: PLC0415

        d = dict(src_dict)
        type_ = d.pop("type")

        title = d.pop("title")

        status = d.pop("status")

        version = d.pop("version")

        def _parse_schema_revision(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        schema_revision = _parse_schema_revision(d.pop("schema_revision"))

        expected_schema_revision = d.pop("expected_schema_revision")

        oldest_schema_revision = d.pop("oldest_schema_revision")

        def _parse_schema_release(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        schema_release = _parse_schema_release(d.pop("schema_release"))

        def _parse_schema_oldest_compatible_release(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        schema_oldest_compatible_release = _parse_schema_oldest_compatible_release(
            d.pop("schema_oldest_compatible_release")
        )

        checks = NotReadyChecks.from_dict(d.pop("checks"))

        def _parse_detail(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        detail = _parse_detail(d.pop("detail", UNSET))

        def _parse_instance(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instance = _parse_instance(d.pop("instance", UNSET))

        def _parse_errors(data: object) -> list[ValidationItem] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                errors_type_0 = []
                _errors_type_0 = data
                for errors_type_0_item_data in _errors_type_0:
                    errors_type_0_item = ValidationItem.from_dict(errors_type_0_item_data)

                    errors_type_0.append(errors_type_0_item)

                return errors_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ValidationItem] | None | Unset, data)

        errors = _parse_errors(d.pop("errors", UNSET))

        not_ready = cls(
            type_=type_,
            title=title,
            status=status,
            version=version,
            schema_revision=schema_revision,
            expected_schema_revision=expected_schema_revision,
            oldest_schema_revision=oldest_schema_revision,
            schema_release=schema_release,
            schema_oldest_compatible_release=schema_oldest_compatible_release,
            checks=checks,
            detail=detail,
            instance=instance,
            errors=errors,
        )

        not_ready.additional_properties = d
        return not_ready

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
