"""Keyset pagination with opaque tokens.

A token carries the sort key of the last row served, the ordering it belongs to and a digest of
the filters, so a token replayed against another query is refused instead of skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from expsvc.errors import InvalidPageToken

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_TOKEN_LENGTH = 2048


@dataclass(frozen=True)
class Ordering:
    """ORDER BY ``column`` (then ``id``), ascending or descending.

    NULLs sort as PostgreSQL's defaults do (after everything ascending, before everything
    descending), i.e. a NULL is larger than any value; keyset conditions follow the same rule.
    """

    column: str
    descending: bool = True

    @property
    def name(self) -> str:
        return f"{self.column}:{'desc' if self.descending else 'asc'}"


def filter_digest(filters: dict[str, Any]) -> str:
    canonical = orjson.dumps(filters, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(canonical, digest_size=8).hexdigest()


def encode_page_token(ordering: str, key: list[Any], filters: dict[str, Any]) -> str:
    payload = {"o": ordering, "k": key, "f": filter_digest(filters)}
    raw = orjson.dumps(payload, default=str)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, ordering: str, filters: dict[str, Any]) -> list[Any]:
    """Return the sort key stored in ``token``; raise :class:`InvalidPageToken` if it is not
    a token of this very query."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageToken("page_token is too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = orjson.loads(raw)
        key = payload["k"]
        same_query = payload["o"] == ordering and payload["f"] == filter_digest(filters)
    except (ValueError, KeyError, TypeError):
        raise InvalidPageToken("page_token is malformed") from None
    if not same_query or not isinstance(key, list):
        raise InvalidPageToken(
            "page_token belongs to a different query; repeat the filters and ordering it was "
            "issued with, or start again without a token"
        )
    return key


@dataclass(frozen=True)
class RowPage:
    """A page as rows, for endpoints that answer it without a read model per row."""

    rows: Sequence[Any]
    next_page_token: str | None


@dataclass(frozen=True)
class PageRequest:
    """One page of a keyset-paginated list: its ordering, filters, size and incoming token."""

    ordering: Ordering
    filters: dict[str, Any]
    page_size: int
    page_token: str | None

    def after(self) -> tuple[Any, uuid.UUID] | None:
        """The (sort value, id) of the last row already served, from the token."""
        if self.page_token is None:
            return None
        key = decode_page_token(self.page_token, self.ordering.name, self.filters)
        try:
            value, raw_id = key
            if value is not None and self.ordering.column.endswith("_at"):
                value = datetime.fromisoformat(value)
            elif value is not None and not isinstance(value, str):
                raise TypeError(value)
            return value, uuid.UUID(raw_id)
        except (ValueError, TypeError):
            raise InvalidPageToken("page_token is malformed") from None

    def next_token(self, rows: Sequence[Any]) -> str | None:
        """A token for the page after ``rows`` (fetched with ``page_size + 1``), or None."""
        if len(rows) <= self.page_size:
            return None
        last = rows[self.page_size - 1]
        value = getattr(last, self.ordering.column)
        if isinstance(value, datetime):
            value = value.isoformat()
        return encode_page_token(self.ordering.name, [value, str(last.id)], self.filters)
