"""The audit log: one append-only row per create, update, delete and transition of the
lifecycle's entities, per grant change, and per change of a webhook or an API token."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.audit.repository import AuditRepository
from expsvc.audit.schemas import AuditedEntity, AuditEntryRead, AuditPage, AuditQuery
from expsvc.auth.principal import Principal
from expsvc.change_log import ChangeLogRepository
from expsvc.context import ActionContext
from expsvc.errors import InvalidPageToken
from expsvc.lifecycle import EntityKind
from expsvc.pagination import decode_page_token, encode_page_token

Changes = dict[str, dict[str, Any]]
_ORDERING = "id:desc"


def audit_rows(
    action: str,
    kind: EntityKind | AuditedEntity,
    changes: Sequence[tuple[uuid.UUID, Changes]],
    context: ActionContext,
) -> list[dict[str, Any]]:
    """One audit row per (entity id, its field changes)."""
    source, entity_type = context.source.value, kind.value  # enum .value is slow per row
    return [
        {
            "actor": context.actor,
            "source": source,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "changes": entity_changes,
            "request_id": context.request_id,
            "idempotency_key": context.idempotency_key,
            "batch_id": context.batch_id,
            "client_address": context.client_address,
            "server_request_id": context.server_request_id,
        }
        for entity_id, entity_changes in changes
    ]


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = AuditRepository(session)
        self.change_log = ChangeLogRepository(session)

    async def record(
        self,
        action: str,
        kind: EntityKind | AuditedEntity,
        changes: Sequence[tuple[uuid.UUID, Changes]],
        context: ActionContext,
    ) -> None:
        """One row per (entity id, its field changes), alone (changes use ChangeRecorder)."""
        await self.change_log.write(audit=audit_rows(action, kind, changes, context))

    async def search(self, principal: Principal, query: AuditQuery) -> AuditPage:
        """A page of the audit rows of what ``principal`` may read."""
        before = None
        if query.page_token is not None:
            key = decode_page_token(query.page_token, _ORDERING, query.filters())
            if len(key) != 1 or not isinstance(key[0], int):
                raise InvalidPageToken("page_token is malformed")
            before = key[0]
        rows = await self.repository.search(query, principal, before)
        items = [AuditEntryRead.model_validate(row) for row in rows[: query.page_size]]
        token = None
        if len(rows) > query.page_size:
            token = encode_page_token(_ORDERING, [items[-1].id], query.filters())
        return AuditPage(items=items, next_page_token=token)
