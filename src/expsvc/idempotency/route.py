"""Idempotency at the HTTP edge: called by :class:`expsvc.routing.TransactionalRoute`."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.params import Depends as DependsParam
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from expsvc.auth.principal import current_principal
from expsvc.errors import BadRequest, ValidationFailed, problem_responses
from expsvc.idempotency.service import (
    IDEMPOTENCY_KEY_HEADER,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    IdempotencyService,
    InvalidIdempotencyKey,
    StoredResponse,
    fingerprint,
    storable_headers,
    validate_key,
)
from expsvc.settings import Settings

Handler = Callable[[Request], Awaitable[Response]]
_MAX_STORED_PATH = 2048


async def idempotency_key_header(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=IDEMPOTENCY_KEY_HEADER,
            max_length=MAX_KEY_LENGTH,
            # Declared only: the route class answers a malformed key 400 invalid-idempotency-key.
            json_schema_extra={"pattern": KEY_PATTERN},
            description=(
                "Makes the request safe to retry: a repeat with the same key and the same "
                "request gets the stored response (header Idempotent-Replayed: true); the same "
                "key with a different request is 422; while the first is in progress, 409. "
                "Keys are scoped to the caller and kept for 24 hours (configurable)."
            ),
        ),
    ] = None,
) -> None:
    """Declares the header in OpenAPI; the route class does the work before the endpoint runs."""


def declare_idempotency(
    methods: Sequence[str] | None,
    dependencies: Sequence[DependsParam] | None,
    responses: dict[int | str, dict[str, Any]] | None,
) -> tuple[list[DependsParam], dict[int | str, dict[str, Any]]]:
    """A POST route's dependencies and responses with the idempotency header and errors added.

    Idempotent: FastAPI builds each route again when its router is included.
    """
    dependencies = list(dependencies or [])
    responses = dict(responses or {})
    if "POST" not in {method.upper() for method in methods or ()}:
        return dependencies, responses
    if not any(d.dependency is idempotency_key_header for d in dependencies):
        dependencies.append(Depends(idempotency_key_header))
    # ValidationFailed first, so a shared 422 entry reads as the general case plus ours.
    errors = (InvalidIdempotencyKey, IdempotencyKeyInFlight, ValidationFailed, IdempotencyKeyReused)
    for status, declared in problem_responses(*errors).items():
        existing = responses.get(status)
        if existing is None:
            responses[status] = declared
            continue
        titles = [t for t in str(existing.get("description", "")).split("; ") if t]
        titles += [t for t in declared["description"].split("; ") if t not in titles]
        responses[status] = {**declared, **existing, "description": "; ".join(titles)}
    return dependencies, responses


def without_declaration(dependant: Dependant) -> Dependant:
    """``dependant`` without :func:`idempotency_key_header`, for the route's handler.

    The header's dependency only declares it in OpenAPI: :func:`respond_idempotently` reads and
    validates the key before the endpoint's dependencies are solved, so solving it on every
    POST (a header parameter and a call) could never change an answer.
    """
    kept = [d for d in dependant.dependencies if d.call is not idempotency_key_header]
    if len(kept) == len(dependant.dependencies):
        return dependant
    return dataclasses.replace(dependant, dependencies=kept)


async def respond_idempotently(
    request: Request, session: AsyncSession, handler: Handler, *, seal: bool = False
) -> Response:
    """Run ``handler`` under the request's ``Idempotency-Key``, or replay its stored response.

    Runs inside the request's transaction: the claim, the endpoint's writes and the stored
    response commit together, or not at all. ``seal``: the answer carries a secret, so its
    stored copy is encrypted (docs/adr/0011).
    """
    raw_key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw_key is None or request.method != "POST":
        return await handler(request)
    principal = (await current_principal(request)).id
    key = validate_key(raw_key)
    # The scope's path and query, not ``request.url`` (which parses the Host header and the
    # URL again): the same text for every path a POST route matches (no "?", "#" or "\\" in
    # it), so fingerprints and stored paths are those earlier releases wrote.
    path = request.scope["path"]
    query = request.scope["query_string"].decode()
    request_fingerprint = fingerprint(request.method, path, query, await _body(request))
    settings: Settings = request.app.state.settings
    service = IdempotencyService(
        session,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
        retry_after=settings.retry_after_seconds,
        box=request.app.state.secret_box,
    )
    stored_path = path[:_MAX_STORED_PATH]
    stored = await service.claim(principal, key, request.method, stored_path, request_fingerprint)
    if stored is not None:
        return _replay(stored)
    response = await handler(request)
    # Failures are not stored: they wrote nothing, so running them again is harmless and lets
    # the client retry with the same key after fixing the cause (docs/adr/0005).
    if response.status_code < 400:
        await service.record(principal, key, _capture(response), seal=seal)
    else:
        service.not_recorded()  # the route rolls an answer >= 400 back
    return response


async def _body(request: Request) -> bytes:
    # Starlette caches the body on the request, so the endpoint parses these same bytes.
    try:
        return await request.body()
    except Exception as error:
        # As FastAPI does when it reads the body: a failed read (oversized, disconnected) is
        # the client's, and the body guard turns this 400 into its 413 where that applies.
        raise BadRequest("the request body could not be read") from error


def _capture(response: Response) -> StoredResponse:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes):
        # A streamed response cannot be replayed; failing loudly beats executing twice later.
        raise TypeError(f"{type(response).__name__} cannot be stored for idempotent replay")
    return StoredResponse(response.status_code, storable_headers(response.headers), body)


def _replay(stored: StoredResponse) -> Response:
    headers = {**stored.headers, REPLAYED_HEADER: "true"}
    return Response(content=stored.body, status_code=stored.status, headers=headers)
