from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from expsvc.context import CurrentContext
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.event.catalogue import EVENT_TYPES
from expsvc.event.feed import CursorExpired, FeedNotifier, read_feed
from expsvc.event.schemas import CloudEvent, EventPage

router = APIRouter(prefix="/v1/events", tags=["events"])

_KEEPALIVE_SECONDS = 15.0
Cursor = Annotated[
    int,
    Query(
        ge=0,
        description="Return events after this cursor (a previous `next_cursor`); 0: the oldest.",
    ),
]
Types = Annotated[
    list[str],
    Query(max_length=len(EVENT_TYPES), description="Only these event types, e.g. run.started."),
]


def _check_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise BadRequest(f"unknown event types: {', '.join(unknown)}", known=list(EVENT_TYPES))
    return types


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
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period."""
    state = request.app.state
    events, cursor = await read_feed(
        state.database,
        state.settings.event_source,
        after,
        limit,
        _check_types(type),
        context.principal,
    )
    return EventPage(items=[CloudEvent.model_validate(e) for e in events], next_cursor=str(cursor))


@router.get(
    "/stream",
    operation_id="stream_events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "Lines `id: <cursor>`, `event: <type>`, `data: <CloudEvent "
                        "JSON>`; comments `: keepalive` while idle.",
                    }
                }
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
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=20,
            description="Resume after this event (sent by EventSource on reconnect).",
        ),
    ] = None,
) -> StreamingResponse:
    """Live Server-Sent Events: each event's `id` is its cursor; resumes from Last-Event-ID."""
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise BadRequest("Last-Event-ID must be a cursor from this stream")
        after = int(last_event_id)
    types = _check_types(type)
    state = request.app.state
    notifier: FeedNotifier = state.feed_notifier
    token = notifier.token()
    # Fail before the stream starts (e.g. expired cursor), while a problem+json is possible.
    principal = context.principal
    first, cursor = await read_feed(
        state.database, state.settings.event_source, after, 100, types, principal
    )

    async def stream() -> AsyncIterator[bytes]:
        nonlocal cursor, token
        batch = first
        yield b"retry: 2000\n\n"
        last_write = time.monotonic()
        while True:
            for event in batch:
                yield _sse(event)
                last_write = time.monotonic()
            if not batch:
                if time.monotonic() - last_write >= _KEEPALIVE_SECONDS:
                    yield b": keepalive\n\n"  # keeps proxies from closing an idle stream
                    last_write = time.monotonic()
                await notifier.wait(_KEEPALIVE_SECONDS, token)
            token = notifier.token()
            batch, cursor = await read_feed(
                state.database, state.settings.event_source, cursor, 100, types, principal
            )

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: dict[str, object]) -> bytes:
    return (
        f"id: {event['sequence']}\nevent: {event['type']}\ndata: ".encode()
        + orjson.dumps(event)
        + b"\n\n"
    )
