"""One batch of inbound events: parse, drop redeliveries (the inbox), apply, answer per event.

Everything happens in the request's transaction, so a batch applies entirely or not at all
(a crash, a lost connection: the sender retries and nothing is applied twice). Within it each
event stands alone: a rejected one leaves no trace but its inbox row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.errors import ValidationFailed
from expsvc.integration.repository import Claim, InboxRepository
from expsvc.integration.schemas import (
    BatchResult,
    EventId,
    EventResult,
    InboundEvent,
    Outcome,
    Result,
)
from expsvc.observability.domain import note_inbound
from expsvc.observability.tracing import span
from expsvc.schemas import _find_unstorable


class InvalidEvent(ValidationFailed):
    """An event of a batch that cannot be applied as sent (reported per event, not as 422)."""

    slug, title = "invalid-event", "Invalid event"


class UnknownEventType(ValidationFailed):
    slug, title = "unknown-event-type", "Unknown event type"


INVALID_EVENT = InvalidEvent.slug


@dataclass(frozen=True, slots=True)
class Claimed:
    """An event seen for the first time, its envelope valid: the handler's to apply."""

    index: int
    event: InboundEvent


Handler = Callable[[Sequence[Claimed]], Awaitable[list[Outcome]]]
"""Applies the events (in order where order matters); one outcome per event, aligned."""

_event_id: TypeAdapter[str] = TypeAdapter(EventId)


def validation_detail(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:5]:
        where = "/".join(str(part) for part in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


class InboxProcessor:
    def __init__(self, session: AsyncSession, source: str, request_id: str | None) -> None:
        self.inbox = InboxRepository(session, source)
        self.session, self.source = session, source
        self.request_id = request_id

    async def process(self, raw_events: Sequence[Any], handler: Handler) -> BatchResult:
        with span("inbound batch", source=self.source, count=len(raw_events)):
            return await self._process(raw_events, handler)

    async def _process(self, raw_events: Sequence[Any], handler: Handler) -> BatchResult:
        results: dict[int, EventResult] = {}
        claims: dict[int, Claim] = {}
        first_index: dict[str, int] = {}
        for index, raw in enumerate(raw_events):
            event_id, event_type, problem = _identify(raw)
            if problem is not None:
                results[index] = _result(index, event_id, event_type, Outcome.rejected(*problem))
            elif event_id in first_index:
                results[index] = _duplicate(index, event_id, event_type, None)
            else:
                first_index[event_id] = index
                claims[index] = Claim(event_id, event_type, raw)
        claimed = await self.inbox.claim(list(claims.values()), self.request_id)
        await self._answer_duplicates(claims, claimed, results)
        fresh = await self._parse_fresh(claims, claimed, results)
        outcomes = await handler(fresh) if fresh else []
        recorded: dict[str, Outcome] = {}
        for item, outcome in zip(fresh, outcomes, strict=True):
            results[item.index] = _result(item.index, item.event.id, item.event.type, outcome)
            recorded[item.event.id] = outcome
        for index, claim in claims.items():
            if claim.event_id in claimed and claim.event_id not in recorded:
                recorded[claim.event_id] = _outcome_of(results[index])
        await self.inbox.record(recorded)
        # A duplicate inside the batch came to what its first copy did.
        for index, result in results.items():
            if result.result is Result.duplicate and result.original_result is None:
                first = results.get(first_index.get(result.id or "", -1))
                if first is not None and first.result is not Result.duplicate:
                    results[index] = result.model_copy(update={"original_result": first.result})
        note_inbound(self.session, self.source, (r.result.value for r in results.values()))
        return _batch([results[i] for i in range(len(raw_events))])

    async def _answer_duplicates(
        self, claims: dict[int, Claim], claimed: set[str], results: dict[int, EventResult]
    ) -> None:
        seen = [c.event_id for c in claims.values() if c.event_id not in claimed]
        earlier = await self.inbox.earlier(seen)
        for index, claim in claims.items():
            if claim.event_id not in claimed:
                row = earlier.get(claim.event_id)
                original = Result(row.outcome) if row is not None and row.outcome else None
                results[index] = _duplicate(index, claim.event_id, claim.event_type, original)

    async def _parse_fresh(
        self, claims: dict[int, Claim], claimed: set[str], results: dict[int, EventResult]
    ) -> list[Claimed]:
        fresh = []
        for index, claim in claims.items():
            if claim.event_id not in claimed:
                continue
            try:
                fresh.append(Claimed(index, InboundEvent.model_validate(claim.payload)))
            except ValidationError as error:
                outcome = Outcome.rejected(INVALID_EVENT, validation_detail(error))
                results[index] = _result(index, claim.event_id, claim.event_type, outcome)
        return fresh


def _identify(raw: Any) -> tuple[str, str | None, tuple[str, str] | None]:
    """The event's id and type, or why it cannot be taken in (then it is not stored)."""
    if not isinstance(raw, dict):
        return "", None, (INVALID_EVENT, "an event must be a JSON object")
    raw_type = raw.get("type")
    event_type = raw_type[:128] if isinstance(raw_type, str) and raw_type else None
    try:
        event_id = _event_id.validate_python(raw.get("id"))
    except ValidationError:
        return "", event_type, (INVALID_EVENT, "id must be 1 to 255 visible ASCII characters")
    if found := _find_unstorable(raw, ""):
        return event_id, event_type, (INVALID_EVENT, f"text at {found!r} contains NUL")
    return event_id, event_type, None


def _result(index: int, event_id: str, event_type: str | None, outcome: Outcome) -> EventResult:
    return EventResult(
        index=index,
        id=event_id or None,
        type=event_type,
        result=outcome.result,
        reason=outcome.reason,
        detail=outcome.detail,
    )


def _duplicate(
    index: int, event_id: str, event_type: str | None, original: Result | None
) -> EventResult:
    return EventResult(
        index=index,
        id=event_id,
        type=event_type,
        result=Result.duplicate,
        detail="already received",
        original_result=original,
    )


def _outcome_of(result: EventResult) -> Outcome:
    return Outcome(result.result, result.reason, result.detail)


def _batch(results: list[EventResult]) -> BatchResult:
    counts = Counter(result.result for result in results)
    return BatchResult(
        applied=counts[Result.applied],
        duplicate=counts[Result.duplicate],
        orphaned=counts[Result.orphaned],
        rejected=counts[Result.rejected],
        results=results,
    )
