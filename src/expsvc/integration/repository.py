"""SQL of the inbox: claiming event ids, recording outcomes, finding earlier deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, and_, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.integration.schemas import Outcome
from expsvc.models import integration_inbox

_inbox = integration_inbox


@dataclass(frozen=True, slots=True)
class Claim:
    event_id: str
    event_type: str | None
    payload: dict[str, Any]


_RECORD_OUTCOMES = text(
    """
    UPDATE integration_inbox AS i
    SET outcome = o.outcome, reason = o.reason, detail = o.detail
    FROM unnest(
        CAST(:ids AS text[]), CAST(:outcomes AS text[]),
        CAST(:reasons AS text[]), CAST(:details AS text[])
    ) AS o(event_id, outcome, reason, detail)
    WHERE i.source = :source AND i.event_id = o.event_id
    """
)


class InboxRepository:
    def __init__(self, session: AsyncSession, source: str) -> None:
        self.session = session
        self.source = source

    async def claim(self, claims: Sequence[Claim], request_id: str | None) -> set[str]:
        """Insert the events not seen before; the ids inserted (the others are duplicates).

        A concurrent delivery of the same id waits for this transaction to end, then finds the
        id taken. Ids go in sorted, so two batches sharing ids never wait on each other in a
        cycle.
        """
        if not claims:
            return set()
        query = (
            insert(_inbox)
            .values(
                [
                    {
                        "source": self.source,
                        "event_id": claim.event_id,
                        "event_type": claim.event_type,
                        "payload": claim.payload,
                        "request_id": request_id,
                    }
                    for claim in sorted(claims, key=lambda c: c.event_id)
                ]
            )
            .on_conflict_do_nothing(index_elements=[_inbox.c.source, _inbox.c.event_id])
            .returning(_inbox.c.event_id)
        )
        return set((await self.session.execute(query)).scalars())

    async def earlier(self, event_ids: Sequence[str]) -> dict[str, Row[Any]]:
        """The stored rows of these ids (outcome, reason), by id."""
        if not event_ids:
            return {}
        query: Select[Any] = select(_inbox.c.event_id, _inbox.c.outcome, _inbox.c.reason).where(
            _inbox.c.source == self.source, _inbox.c.event_id.in_(list(event_ids))
        )
        return {row.event_id: row for row in (await self.session.execute(query)).all()}

    async def record(self, outcomes: dict[str, Outcome]) -> None:
        if not outcomes:
            return
        ids = sorted(outcomes)
        await self.session.execute(
            _RECORD_OUTCOMES,
            {
                "source": self.source,
                "ids": ids,
                "outcomes": [outcomes[i].result.value for i in ids],
                "reasons": [outcomes[i].reason for i in ids],
                "details": [_short(outcomes[i].detail) for i in ids],
            },
        )


async def purge_inbox(session: AsyncSession, older_than_hours: float, limit: int) -> int:
    """Delete up to ``limit`` inbox rows received more than ``older_than_hours`` ago."""
    oldest = (
        select(_inbox.c.source, _inbox.c.event_id)
        .where(_inbox.c.received_at < text("now() - make_interval(secs => :age)"))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .subquery()
    )
    query = delete(_inbox).where(
        and_(_inbox.c.source == oldest.c.source, _inbox.c.event_id == oldest.c.event_id)
    )
    result = await session.execute(query, {"age": older_than_hours * 3600})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _short(detail: str | None, limit: int = 1000) -> str | None:
    return None if detail is None else detail[:limit]


__all__ = ["Claim", "InboxRepository", "purge_inbox"]
