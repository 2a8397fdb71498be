from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.event.catalogue import EVENT_TYPES
from expsvc.event.feed import CursorExpired, FeedNotifier, read_feed
from expsvc.event.schemas import CloudEvent, EventPage, FeedFilter
from expsvc.event.versions import VersionChoice

router = APIRouter(prefix="/v1/events", tags=["events"])

_KEEPALIVE_SECONDS = 15.0
_STREAM_BATCH = 100
# Cursors are event sequences, a bigint.
MAX_CURSOR = 2**63 - 1
Cursor = Annotated[
    int,
    Query(
        ge=0,
        le=MAX_CURSOR,
        description="Return events after this cursor (a previous `next_cursor`); 0: the oldest.",
    ),
]
Types = Annotated[
    list[str],
    Query(
        max_length=len(EVENT_TYPES),
        description="Only these event types, e.g. run.started (repeat for several).",
        # Declared as the catalogue; another value is still answered 400 with the known list.
        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},
    ),
]
Versions = Annotated[
    VersionChoice,
    Query(
        description="Which data versions of an event whose type changed incompatibly (both are "
        "published for two releases, docs/events.md): `all` of them, each its own envelope "
        "with the same `sequence`; or only each event's `newest` or `oldest` version.",
    ),
]
MAX_FEED_EXPERIMENTS = 100
ExperimentIds = Annotated[
    list[uuid.UUID],
    Query(
        max_length=MAX_FEED_EXPERIMENTS,
        description="Only events of these experiments: their own and their runs' and captures' "
        "(repeat for several).",
    ),
]


# One event of the stream, as OpenAPI describes Server-Sent Events (each event an object of its
# fields; 3.2's itemSchema, which 3.1 tools read from ``schema``): the first is only a
# ``retry``; then one per CloudEvent; ``: keepalive`` comments while idle are not events.
_SERVER_SENT_EVENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's cursor."},
        "event": {"type": "string", "enum": list(EVENT_TYPES)},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/CloudEvent"},
            "description": "The CloudEvent, as JSON.",
        },
        "retry": {"type": "integer", "minimum": 0, "description": "Reconnection delay, ms."},
    },
    "description": "Server-Sent Events: `id: <cursor>`, `event: <type>`, `data: <CloudEvent "
    "JSON>`; comments `: keepalive` while idle. An event without `id:` is followed by another "
    "data version of the same position.",
}


def _filter(types: list[str], experiment_ids: list[uuid.UUID]) -> FeedFilter:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise BadRequest(f"unknown event types: {', '.join(unknown)}", known=list(EVENT_TYPES))
    return FeedFilter(types=sorted(set(types)), experiment_ids=sorted(set(experiment_ids)))


@router.get(
    "",
    operation_id="list_events",
    responses=problem_responses(BadRequest, CursorExpired, ValidationFailed),
    # An absent traceparent stays absent (as in SSE, Redis and Kafka), not null.
    response_model_exclude_unset=True,
)
async def list_events(
    request: Request,
    context: CurrentContext,
    after: Cursor = 0,
    type: Types = [],  # noqa: B006 - FastAPI copies defaults per request
    experiment_id: ExperimentIds = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    versions: Versions = "all",
) -> EventPage:
    """The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period. One request examines a bounded number of events: a page may be
    short, or empty, with a `next_cursor` that has moved on."""
    state = request.app.state
    events, cursor = await read_feed(
        state.database,
        state.settings.event_source,
        after,
        limit,
        state.settings.event_feed_scan_limit,
        _filter(type, experiment_id),
        context.principal,
        state.event_versions,
        versions,
    )
    return EventPage(items=[CloudEvent.model_validate(e) for e in events], next_cursor=str(cursor))


@router.get(
    "/stream",
    operation_id="stream_events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {"schema": _SERVER_SENT_EVENT},
            },
            "description": "Server-Sent Events",
        },
        **problem_responses(BadRequest, CursorExpired, ValidationFailed),
    },
)
async def stream_events(
    request: Request,
    context: CurrentContext,
    after: Cursor = 0,
    type: Types = [],  # noqa: B006
    experiment_id: ExperimentIds = [],  # noqa: B006
    versions: Versions = "all",
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            json_schema_extra={"pattern": "^[0-9]{1,19}$"},
            description="Resume after this event (sent by EventSource on reconnect): an `id` "
            "of this stream.",
        ),
    ] = None,
) -> StreamingResponse:
    """Live Server-Sent Events: each event's `id` is its cursor; resumes from Last-Event-ID.
    While filters skip events, a bare `id:` line moves the cursor past them."""
    if last_event_id is not None:
        # Checked here, not by the declared pattern: a malformed one stays 400, as it was.
        if re.fullmatch("[0-9]{1,19}", last_event_id) is None or int(last_event_id) > MAX_CURSOR:
            raise BadRequest("Last-Event-ID must be a cursor from this stream")
        after = int(last_event_id)
    where = _filter(type, experiment_id)
    state = request.app.state
    notifier: FeedNotifier = state.feed_notifier
    principal = context.principal

    async def read(cursor: int) -> tuple[list[dict[str, Any]], int]:
        return await read_feed(
            state.database,
            state.settings.event_source,
            cursor,
            _STREAM_BATCH,
            state.settings.event_feed_scan_limit,
            where,
            principal,
            state.event_versions,
            versions,
        )

    token = notifier.token()
    # Fail before the stream starts (e.g. expired cursor), while a problem+json is possible.
    first, cursor = await read(after)

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor, token
        batch, moved = first, cursor != after
        yield b"retry: 2000\n\n"
        last_write = time.monotonic()
        while True:
            for index, event in enumerate(batch):
                following = batch[index + 1] if index + 1 < len(batch) else None
                yield _sse(event, following)
                last_write = time.monotonic()
            if not batch and moved:  # filtered-out events: a reconnect resumes past them
                yield f"id: {cursor}\n\n".encode()
                last_write = time.monotonic()
            elif not batch:
                if time.monotonic() - last_write >= _KEEPALIVE_SECONDS:
                    yield b": keepalive\n\n"  # keeps proxies from closing an idle stream
                    last_write = time.monotonic()
                await notifier.wait(_KEEPALIVE_SECONDS, token)
            token = notifier.token()
            previous = cursor
            batch, cursor = await read(cursor)
            moved = cursor != previous

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: dict[str, object], following: dict[str, object] | None) -> bytes:
    """One SSE event. Only the last version of a log position sets the ``id`` (the resume
    cursor): a stream cut between two versions resumes before the position and sends both."""
    same_position = following is not None and following["sequence"] == event["sequence"]
    cursor = b"" if same_position else f"id: {event['sequence']}\n".encode()
    return cursor + f"event: {event['type']}\ndata: ".encode() + orjson.dumps(event) + b"\n\n"
