"""Deprecated operations: declared in one table, marked in the OpenAPI document, announced on
every answer (docs/adr/0021).

A deprecated operation answers, on every response (errors included) with

- ``Deprecation: @<unix seconds>`` (RFC 9745): since when it is deprecated;
- ``Sunset: <HTTP-date>`` (RFC 8594): from when it may stop answering, if decided;
- ``Link: <url>; rel="deprecation"; type="text/html"`` (RFC 9745): where the migration is
  explained (and ``rel="successor-version"`` when another operation replaces it);

and the OpenAPI document marks it ``deprecated: true`` with the same dates under
``x-deprecation``. The operation keeps working until its sunset; removing it then is a break
that ``scripts/check-api-compat`` reports, to be accepted in
``docs/openapi/releases/accepted-breaks.toml`` once the two-release window has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Deprecation:
    since: datetime
    info: str  # a page explaining what to use instead (an absolute URL)
    sunset: datetime | None = None
    successor: str | None = None  # the replacing operation's path, e.g. "/v1/runs"

    def __post_init__(self) -> None:
        for moment in (self.since, self.sunset):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError("deprecation dates must be timezone-aware")

    def headers(self) -> list[tuple[bytes, bytes]]:
        found = [
            (b"deprecation", f"@{int(self.since.timestamp())}".encode()),
            (b"link", f'<{self.info}>; rel="deprecation"; type="text/html"'.encode()),
        ]
        if self.sunset is not None:
            found.append((b"sunset", format_datetime(self.sunset, usegmt=True).encode()))
        if self.successor is not None:
            found.append((b"link", f'<{self.successor}>; rel="successor-version"'.encode()))
        return found

    def openapi(self) -> dict[str, str]:
        described = {"since": self.since.isoformat(), "info": self.info}
        if self.sunset is not None:
            described["sunset"] = self.sunset.isoformat()
        if self.successor is not None:
            described["successor"] = self.successor
        return described


# "METHOD /path" (as in the OpenAPI document) → its deprecation. None is deprecated today.
DEPRECATED_OPERATIONS: Mapping[str, Deprecation] = {}


def install_deprecations(
    app: FastAPI, table: Mapping[str, Deprecation] = DEPRECATED_OPERATIONS
) -> None:
    """Announce the table's operations: headers on their answers, ``deprecated`` in the
    document (:func:`mark_deprecated`, called by :mod:`expsvc.openapi`). Before the app's
    first request; with an empty table nothing is added to the request path."""
    app.state.deprecations = dict(table)
    if table:
        app.add_middleware(DeprecationHeaders, table=table)


def mark_deprecated(document: dict[str, Any], table: Mapping[str, Deprecation]) -> None:
    """Mark the table's operations in an OpenAPI document. An entry naming no operation is an
    error: a typo must not silently deprecate nothing."""
    for key, deprecation in table.items():
        method, _, path = key.partition(" ")
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            raise ValueError(f"a deprecated operation that does not exist: {key}")
        operation["deprecated"] = True
        operation["x-deprecation"] = deprecation.openapi()


class DeprecationHeaders:
    """Adds the headers to every answer of a deprecated operation, errors included. The route
    is known once the router has matched (``scope["route"]``, the template), which is before
    any answer starts."""

    def __init__(self, app: ASGIApp, table: Mapping[str, Deprecation]) -> None:
        self.app = app
        self.headers = {key: deprecation.headers() for key, deprecation in table.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def announce(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = getattr(scope.get("route"), "path", None)
                extra = self.headers.get(f"{scope['method']} {path}")
                if extra:
                    message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, announce)
