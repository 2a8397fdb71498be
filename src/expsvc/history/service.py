"""Status history: written by every transition, read newest first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.context import ActionContext
from expsvc.errors import InvalidPageToken
from expsvc.history.repository import StatusHistoryRepository
from expsvc.history.schemas import StatusChange, StatusHistoryPage
from expsvc.lifecycle import EntityKind, Status
from expsvc.pagination import decode_page_token, encode_page_token

_ORDERING = "id:desc"


def history_rows(
    kind: EntityKind,
    entity_ids: Sequence[uuid.UUID],
    from_status: Status | Sequence[Status],
    to_status: Status,
    context: ActionContext,
    reason: str | None = None,
) -> list[dict[str, Any]]:
    """One history row per entity (written by :class:`expsvc.changes.ChangeRecorder`);
    ``from_status`` may differ per entity."""
    froms = [from_status] * len(entity_ids) if isinstance(from_status, Status) else from_status
    # Enum .value is a slow property; read each once, not once per row.
    entity_type, target, source = kind.value, to_status.value, context.source.value
    return [
        {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "from_status": str(previous),
            "to_status": target,
            "actor": context.actor,
            "reason": reason,
            "source": source,
            "request_id": context.request_id,
            "batch_id": context.batch_id,
        }
        for entity_id, previous in zip(entity_ids, froms, strict=True)
    ]


class StatusHistoryService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = StatusHistoryRepository(session)

    async def page(
        self, kind: EntityKind, entity_id: uuid.UUID, page_size: int, page_token: str | None
    ) -> StatusHistoryPage:
        filters = {"entity": f"{kind}:{entity_id}"}
        before = None
        if page_token is not None:
            key = decode_page_token(page_token, _ORDERING, filters)
            if len(key) != 1 or not isinstance(key[0], int):
                raise InvalidPageToken("page_token is malformed")
            before = key[0]
        rows = await self.repository.page(kind.value, entity_id, before, page_size + 1)
        items = [StatusChange.model_validate(row) for row in rows[:page_size]]
        token = None
        if len(rows) > page_size:
            token = encode_page_token(_ORDERING, [items[-1].id], filters)
        return StatusHistoryPage(items=items, next_page_token=token)
