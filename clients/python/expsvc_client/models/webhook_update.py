from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.webhook_update_event_types_type_0_item import WebhookUpdateEventTypesType0Item
from ..types import UNSET, Unset

T = TypeVar("T", bound="WebhookUpdate")


@_attrs_define
class WebhookUpdate:
    """Only the fields present change. ``active: true`` re-enables a disabled endpoint.

    Attributes:
        url (None | str | Unset):
        event_types (list[WebhookUpdateEventTypesType0Item] | None | Unset):
        experiment_ids (list[UUID] | None | Unset):
        description (None | str | Unset):
        active (bool | None | Unset):
    """

    url: None | str | Unset = UNSET
    event_types: list[WebhookUpdateEventTypesType0Item] | None | Unset = UNSET
    experiment_ids: list[UUID] | None | Unset = UNSET
    description: None | str | Unset = UNSET
    active: bool | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        url: None | str | Unset
        if isinstance(self.url, Unset):
            url = UNSET
        else:
            url = self.url

        event_types: list[str] | None | Unset
        if isinstance(self.event_types, Unset):
            event_types = UNSET
        elif isinstance(self.event_types, list):
            event_types = []
            for event_types_type_0_item_data in self.event_types:
                event_types_type_0_item = event_types_type_0_item_data.value
                event_types.append(event_types_type_0_item)

        else:
            event_types = self.event_types

        experiment_ids: list[str] | None | Unset
        if isinstance(self.experiment_ids, Unset):
            experiment_ids = UNSET
        elif isinstance(self.experiment_ids, list):
            experiment_ids = []
            for experiment_ids_type_0_item_data in self.experiment_ids:
                experiment_ids_type_0_item = str(experiment_ids_type_0_item_data)
                experiment_ids.append(experiment_ids_type_0_item)

        else:
            experiment_ids = self.experiment_ids

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        active: bool | None | Unset
        if isinstance(self.active, Unset):
            active = UNSET
        else:
            active = self.active

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if url is not UNSET:
            field_dict["url"] = url
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if experiment_ids is not UNSET:
            field_dict["experiment_ids"] = experiment_ids
        if description is not UNSET:
            field_dict["description"] = description
        if active is not UNSET:
            field_dict["active"] = active

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)

        def _parse_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        url = _parse_url(d.pop("url", UNSET))

        def _parse_event_types(data: object) -> list[WebhookUpdateEventTypesType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                event_types_type_0 = []
                _event_types_type_0 = data
                for event_types_type_0_item_data in _event_types_type_0:
                    event_types_type_0_item = WebhookUpdateEventTypesType0Item(event_types_type_0_item_data)

                    event_types_type_0.append(event_types_type_0_item)

                return event_types_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[WebhookUpdateEventTypesType0Item] | None | Unset, data)

        event_types = _parse_event_types(d.pop("event_types", UNSET))

        def _parse_experiment_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                experiment_ids_type_0 = []
                _experiment_ids_type_0 = data
                for experiment_ids_type_0_item_data in _experiment_ids_type_0:
                    experiment_ids_type_0_item = UUID(experiment_ids_type_0_item_data)

                    experiment_ids_type_0.append(experiment_ids_type_0_item)

                return experiment_ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        experiment_ids = _parse_experiment_ids(d.pop("experiment_ids", UNSET))

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))

        def _parse_active(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        active = _parse_active(d.pop("active", UNSET))

        webhook_update = cls(
            url=url,
            event_types=event_types,
            experiment_ids=experiment_ids,
            description=description,
            active=active,
        )

        return webhook_update
