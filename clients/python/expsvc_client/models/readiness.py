from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.readiness_checks import ReadinessChecks


T = TypeVar("T", bound="Readiness")


@_attrs_define
class Readiness:
    """
    Attributes:
        status (str):
        version (str): This process's release: X.Y.Z, or X.Y.Z.devN before it.
        schema_revision (None | str): The database's schema revision.
        expected_schema_revision (str): This release's schema head.
        oldest_schema_revision (str): The oldest schema revision this release runs on.
        schema_release (None | str): When the database is ahead of this release: the release that migrated it.
        schema_oldest_compatible_release (None | str): When the database is ahead of this release: the oldest release it
            supports.
        checks (ReadinessChecks): database: ok or unreachable: <error>. schema: ok, behind-compatible or ahead-
            compatible (ready); behind, ahead-incompatible, missing or unknown (not ready).
    """

    status: str
    version: str
    schema_revision: None | str
    expected_schema_revision: str
    oldest_schema_revision: str
    schema_release: None | str
    schema_oldest_compatible_release: None | str
    checks: ReadinessChecks
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
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

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
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

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.readiness_checks import ReadinessChecks  # noqa: PLC0415

        d = dict(src_dict)
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

        checks = ReadinessChecks.from_dict(d.pop("checks"))

        readiness = cls(
            status=status,
            version=version,
            schema_revision=schema_revision,
            expected_schema_revision=expected_schema_revision,
            oldest_schema_revision=oldest_schema_revision,
            schema_release=schema_release,
            schema_oldest_compatible_release=schema_oldest_compatible_release,
            checks=checks,
        )

        readiness.additional_properties = d
        return readiness

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
