from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..models.webhook_update_event_types_item import WebhookUpdateEventTypesItem
from ..types import UNSET, Unset

T = TypeVar("T", bound="WebhookUpdate")


@_attrs_define
class WebhookUpdate:
    """Only the fields present change. ``active: true`` re-enables a disabled endpoint.

    Attributes:
        url (str | Unset): http(s) URL receiving POSTs. Private, loopback and link-local targets are refused unless the
            service allows them.
        event_types (list[WebhookUpdateEventTypesItem] | Unset): Event types to deliver (a set); empty: every type.
        experiment_ids (list[UUID] | Unset): Deliver only events of these experiments (a set): the experiment's own and
            its runs' and captures'. Each must be an experiment the caller may read; empty: every experiment the owner may
            read.
        description (str | Unset):
        active (bool | Unset):
    """

    url: str | Unset = UNSET
    event_types: list[WebhookUpdateEventTypesItem] | Unset = UNSET
    experiment_ids: list[UUID] | Unset = UNSET
    description: str | Unset = UNSET
    active: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        url = self.url

        event_types: list[str] | Unset = UNSET
        if not isinstance(self.event_types, Unset):
            event_types = []
            for event_types_item_data in self.event_types:
                event_types_item = event_types_item_data.value
                event_types.append(event_types_item)

        experiment_ids: list[str] | Unset = UNSET
        if not isinstance(self.experiment_ids, Unset):
            experiment_ids = []
            for experiment_ids_item_data in self.experiment_ids:
                experiment_ids_item = str(experiment_ids_item_data)
                experiment_ids.append(experiment_ids_item)

        description = self.description

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
        url = d.pop("url", UNSET)

        _event_types = d.pop("event_types", UNSET)
        event_types: list[WebhookUpdateEventTypesItem] | Unset = UNSET
        if _event_types is not UNSET:
            event_types = []
            for event_types_item_data in _event_types:
                event_types_item = WebhookUpdateEventTypesItem(event_types_item_data)

                event_types.append(event_types_item)

        _experiment_ids = d.pop("experiment_ids", UNSET)
        experiment_ids: list[UUID] | Unset = UNSET
        if _experiment_ids is not UNSET:
            experiment_ids = []
            for experiment_ids_item_data in _experiment_ids:
                experiment_ids_item = UUID(experiment_ids_item_data)

                experiment_ids.append(experiment_ids_item)

        description = d.pop("description", UNSET)

        active = d.pop("active", UNSET)

        webhook_update = cls(
            url=url,
            event_types=event_types,
            experiment_ids=experiment_ids,
            description=description,
            active=active,
        )

        return webhook_update
