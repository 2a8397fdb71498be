from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.source import Source

if TYPE_CHECKING:
    from ..models.audit_entry_read_changes import AuditEntryReadChanges


T = TypeVar("T", bound="AuditEntryRead")


@_attrs_define
class AuditEntryRead:
    """
    Attributes:
        id (int):
        occurred_at (datetime.datetime):
        actor (str):
        source (Source): Who caused a transition: a user's request, a rule of the service, the worker, a neighbour.
        action (str):
        entity_type (str): experiment, run, capture, webhook or api_token (see the entity_type filter).
        entity_id (UUID):
        changes (AuditEntryReadChanges): Per field: {"before": ..., "after": ...} (null where absent).
        request_id (None | str): The client's X-Request-ID if it sent a well-formed one, else ours.
        server_request_id (None | str): The id this service gave the request (never the client's); null on rows of
            background jobs and rows older than this field.
        idempotency_key (None | str):
        batch_id (None | UUID):
        client_address (None | str):
    """

    id: int
    occurred_at: datetime.datetime
    actor: str
    source: Source
    action: str
    entity_type: str
    entity_id: UUID
    changes: AuditEntryReadChanges
    request_id: None | str
    server_request_id: None | str
    idempotency_key: None | str
    batch_id: None | UUID
    client_address: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        occurred_at = self.occurred_at.isoformat()

        actor = self.actor

        source = self.source.value

        action = self.action

        entity_type = self.entity_type

        entity_id = str(self.entity_id)

        changes = self.changes.to_dict()

        request_id: None | str
        request_id = self.request_id

        server_request_id: None | str
        server_request_id = self.server_request_id

        idempotency_key: None | str
        idempotency_key = self.idempotency_key

        batch_id: None | str
        if isinstance(self.batch_id, UUID):
            batch_id = str(self.batch_id)
        else:
            batch_id = self.batch_id

        client_address: None | str
        client_address = self.client_address

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "occurred_at": occurred_at,
                "actor": actor,
                "source": source,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "changes": changes,
                "request_id": request_id,
                "server_request_id": server_request_id,
                "idempotency_key": idempotency_key,
                "batch_id": batch_id,
                "client_address": client_address,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.audit_entry_read_changes import AuditEntryReadChanges  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        occurred_at = datetime.datetime.fromisoformat(d.pop("occurred_at"))

        actor = d.pop("actor")

        source = Source(d.pop("source"))

        action = d.pop("action")

        entity_type = d.pop("entity_type")

        entity_id = UUID(d.pop("entity_id"))

        changes = AuditEntryReadChanges.from_dict(d.pop("changes"))

        def _parse_request_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        request_id = _parse_request_id(d.pop("request_id"))

        def _parse_server_request_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        server_request_id = _parse_server_request_id(d.pop("server_request_id"))

        def _parse_idempotency_key(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        idempotency_key = _parse_idempotency_key(d.pop("idempotency_key"))

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

        def _parse_client_address(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        client_address = _parse_client_address(d.pop("client_address"))

        audit_entry_read = cls(
            id=id,
            occurred_at=occurred_at,
            actor=actor,
            source=source,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            changes=changes,
            request_id=request_id,
            server_request_id=server_request_id,
            idempotency_key=idempotency_key,
            batch_id=batch_id,
            client_address=client_address,
        )

        audit_entry_read.additional_properties = d
        return audit_entry_read

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
