from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.entity_kind import EntityKind
from ..models.source import Source
from ..models.status import Status

T = TypeVar("T", bound="StatusChange")


@_attrs_define
class StatusChange:
    """
    Attributes:
        id (int):
        entity_type (EntityKind):
        entity_id (UUID):
        from_status (Status):
        to_status (Status):
        actor (str):
        reason (None | str):
        source (Source): Who caused a transition: a user's request, a rule of the service, the worker, a neighbour.
        request_id (None | str):
        batch_id (None | UUID): The bulk operation this change was part of.
        created_at (datetime.datetime):
    """

    id: int
    entity_type: EntityKind
    entity_id: UUID
    from_status: Status
    to_status: Status
    actor: str
    reason: None | str
    source: Source
    request_id: None | str
    batch_id: None | UUID
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        entity_type = self.entity_type.value

        entity_id = str(self.entity_id)

        from_status = self.from_status.value

        to_status = self.to_status.value

        actor = self.actor

        reason: None | str
        reason = self.reason

        source = self.source.value

        request_id: None | str
        request_id = self.request_id

        batch_id: None | str
        if isinstance(self.batch_id, UUID):
            batch_id = str(self.batch_id)
        else:
            batch_id = self.batch_id

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "from_status": from_status,
                "to_status": to_status,
                "actor": actor,
                "reason": reason,
                "source": source,
                "request_id": request_id,
                "batch_id": batch_id,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        entity_type = EntityKind(d.pop("entity_type"))

        entity_id = UUID(d.pop("entity_id"))

        from_status = Status(d.pop("from_status"))

        to_status = Status(d.pop("to_status"))

        actor = d.pop("actor")

        def _parse_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        reason = _parse_reason(d.pop("reason"))

        source = Source(d.pop("source"))

        def _parse_request_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        request_id = _parse_request_id(d.pop("request_id"))

        def _parse_batch_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                batch_id_type_0 = UUID(data)

                return batch_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        batch_id = _parse_batch_id(d.pop("batch_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        status_change = cls(
            id=id,
            entity_type=entity_type,
            entity_id=entity_id,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            reason=reason,
            source=source,
            request_id=request_id,
            batch_id=batch_id,
            created_at=created_at,
        )

        status_change.additional_properties = d
        return status_change

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
