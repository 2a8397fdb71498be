"""Whose reading a webhook delivers by: its owner's, as far as a delivery can know the owner.

A principal's groups come with its credentials and are known only while it makes a request; a
webhook keeps the groups its owner held when it last created or changed it
(``webhook_endpoints.owner_groups``, docs/adr/0026). An event reaches an endpoint when the owner,
or one of those groups, holds a role on the event's experiment, or the owner is an admin (a
configured admin principal or a member of an admin group, or the local user with identity off).
Checked when an event fans out and again before each attempt, against the grants of that moment.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import group_grantee, principal_grantee
from expsvc.auth.principal import ANONYMOUS
from expsvc.settings import AuthMode, Settings
from expsvc.webhook.repository import WebhookRepository


@dataclass(frozen=True)
class WebhookAdmins:
    """Owners whose webhooks receive every event."""

    principals: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookAdmins:
        principals = set(settings.admin_principals)
        if settings.auth_mode is AuthMode.none:
            principals.add(ANONYMOUS)
        return cls(frozenset(principals), frozenset(settings.admin_groups))

    def cover(self, endpoint: Row[Any]) -> bool:
        return endpoint.created_by in self.principals or not self.groups.isdisjoint(
            endpoint.owner_groups
        )


async def readable_events(
    session: AsyncSession,
    sequences: Sequence[int],
    endpoints: Iterable[Row[Any]],
    admins: WebhookAdmins,
) -> dict[tuple[int, uuid.UUID], uuid.UUID | None]:
    """The (event position, endpoint id) pairs whose owner may read the event, each with the
    event's experiment (None when the entity or its experiment is gone: admins only)."""
    endpoints = list(endpoints)
    grantees = [
        (endpoint.id, grantee)
        for endpoint in endpoints
        for grantee in (
            principal_grantee(endpoint.created_by),
            *(group_grantee(group) for group in endpoint.owner_groups),
        )
    ]
    covered = [endpoint.id for endpoint in endpoints if admins.cover(endpoint)]
    return await WebhookRepository(session).deliverable(sequences, grantees, covered)


# No admin owner: every webhook delivers by its owner's grants.
NO_ADMINS = WebhookAdmins()
