from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.artifact_status import ArtifactStatus

T = TypeVar("T", bound="ArtifactRead")


@_attrs_define
class ArtifactRead:
    """
    Attributes:
        id (UUID):
        run_id (UUID):
        artifact_id (str):
        uri (str):
        kind (str):
        status (ArtifactStatus):
        status_reason (None | str):
        approved_model (bool): True for the run's approved model (at most one).
        model_ref (None | str):
        reported_at (datetime.datetime): Time of the last Artifact Service event applied.
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        version (int):
    """

    id: UUID
    run_id: UUID
    artifact_id: str
    uri: str
    kind: str
    status: ArtifactStatus
    status_reason: None | str
    approved_model: bool
    model_ref: None | str
    reported_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        run_id = str(self.run_id)

        artifact_id = self.artifact_id

        uri = self.uri

        kind = self.kind

        status = self.status.value

        status_reason: None | str
        status_reason = self.status_reason

        approved_model = self.approved_model

        model_ref: None | str
        model_ref = self.model_ref

        reported_at = self.reported_at.isoformat()

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "run_id": run_id,
                "artifact_id": artifact_id,
                "uri": uri,
                "kind": kind,
                "status": status,
                "status_reason": status_reason,
                "approved_model": approved_model,
                "model_ref": model_ref,
                "reported_at": reported_at,
                "created_at": created_at,
                "updated_at": updated_at,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        run_id = UUID(d.pop("run_id"))

        artifact_id = d.pop("artifact_id")

        uri = d.pop("uri")

        kind = d.pop("kind")

        status = ArtifactStatus(d.pop("status"))

        def _parse_status_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        status_reason = _parse_status_reason(d.pop("status_reason"))

        approved_model = d.pop("approved_model")

        def _parse_model_ref(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        model_ref = _parse_model_ref(d.pop("model_ref"))

        reported_at = datetime.datetime.fromisoformat(d.pop("reported_at"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        version = d.pop("version")

        artifact_read = cls(
            id=id,
            run_id=run_id,
            artifact_id=artifact_id,
            uri=uri,
            kind=kind,
            status=status,
            status_reason=status_reason,
            approved_model=approved_model,
            model_ref=model_ref,
            reported_at=reported_at,
            created_at=created_at,
            updated_at=updated_at,
            version=version,
        )

        artifact_read.additional_properties = d
        return artifact_read

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
