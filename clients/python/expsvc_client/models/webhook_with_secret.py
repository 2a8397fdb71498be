from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="WebhookWithSecret")


@_attrs_define
class WebhookWithSecret:
    """
    Attributes:
        id (UUID):
        url (str):
        event_types (list[str]):
        experiment_ids (list[UUID]):
        description (str):
        active (bool):
        disabled_reason (None | str): Why the service disabled the endpoint (410 Gone, failing too long); null when
            active or deactivated by a client.
        disabled_at (datetime.datetime | None):
        failing_since (datetime.datetime | None): Start of the current run of failed attempts; null after a success.
        previous_secret_expires_at (datetime.datetime | None): Until then, requests are also signed with the secret
            before the last rotation.
        created_by (str):
        owner_groups (list[str]): The groups its owner held when it last created or changed the webhook: roles granted
            to them count for deliveries. A change by the owner (an empty PATCH will do) refreshes them; a change by an
            admin leaves them.
        created_at (datetime.datetime):
        updated_at (datetime.datetime):
        version (int):
        secret (str): Signing secret (Standard Webhooks, `whsec_…`). Shown only in this answer: store it now.
    """

    id: UUID
    url: str
    event_types: list[str]
    experiment_ids: list[UUID]
    description: str
    active: bool
    disabled_reason: None | str
    disabled_at: datetime.datetime | None
    failing_since: datetime.datetime | None
    previous_secret_expires_at: datetime.datetime | None
    created_by: str
    owner_groups: list[str]
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int
    secret: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        url = self.url

        event_types = self.event_types

        experiment_ids = []
        for experiment_ids_item_data in self.experiment_ids:
            experiment_ids_item = str(experiment_ids_item_data)
            experiment_ids.append(experiment_ids_item)

        description = self.description

        active = self.active

        disabled_reason: None | str
        disabled_reason = self.disabled_reason

        disabled_at: None | str
        if isinstance(self.disabled_at, datetime.datetime):
            disabled_at = self.disabled_at.isoformat()
        else:
            disabled_at = self.disabled_at

        failing_since: None | str
        if isinstance(self.failing_since, datetime.datetime):
            failing_since = self.failing_since.isoformat()
        else:
            failing_since = self.failing_since

        previous_secret_expires_at: None | str
        if isinstance(self.previous_secret_expires_at, datetime.datetime):
            previous_secret_expires_at = self.previous_secret_expires_at.isoformat()
        else:
            previous_secret_expires_at = self.previous_secret_expires_at

        created_by = self.created_by

        owner_groups = self.owner_groups

        created_at = self.created_at.isoformat()

        updated_at = self.updated_at.isoformat()

        version = self.version

        secret = self.secret

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "url": url,
                "event_types": event_types,
                "experiment_ids": experiment_ids,
                "description": description,
                "active": active,
                "disabled_reason": disabled_reason,
                "disabled_at": disabled_at,
                "failing_since": failing_since,
                "previous_secret_expires_at": previous_secret_expires_at,
                "created_by": created_by,
                "owner_groups": owner_groups,
                "created_at": created_at,
                "updated_at": updated_at,
                "version": version,
                "secret": secret,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        url = d.pop("url")

        event_types = cast(list[str], d.pop("event_types"))

        experiment_ids = []
        _experiment_ids = d.pop("experiment_ids")
        for experiment_ids_item_data in _experiment_ids:
            experiment_ids_item = UUID(experiment_ids_item_data)

            experiment_ids.append(experiment_ids_item)

        description = d.pop("description")

        active = d.pop("active")

        def _parse_disabled_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason"))

        def _parse_disabled_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                disabled_at_type_0 = datetime.datetime.fromisoformat(data)

                return disabled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        disabled_at = _parse_disabled_at(d.pop("disabled_at"))

        def _parse_failing_since(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                failing_since_type_0 = datetime.datetime.fromisoformat(data)

                return failing_since_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        failing_since = _parse_failing_since(d.pop("failing_since"))

        def _parse_previous_secret_expires_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                previous_secret_expires_at_type_0 = datetime.datetime.fromisoformat(data)

                return previous_secret_expires_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        previous_secret_expires_at = _parse_previous_secret_expires_at(d.pop("previous_secret_expires_at"))

        created_by = d.pop("created_by")

        owner_groups = cast(list[str], d.pop("owner_groups"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        version = d.pop("version")

        secret = d.pop("secret")

        webhook_with_secret = cls(
            id=id,
            url=url,
            event_types=event_types,
            experiment_ids=experiment_ids,
            description=description,
            active=active,
            disabled_reason=disabled_reason,
            disabled_at=disabled_at,
            failing_since=failing_since,
            previous_secret_expires_at=previous_secret_expires_at,
            created_by=created_by,
            owner_groups=owner_groups,
            created_at=created_at,
            updated_at=updated_at,
            version=version,
            secret=secret,
        )

        webhook_with_secret.additional_properties = d
        return webhook_with_secret

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
