"""What a change leaves behind (status history, audit rows, outbox events) in one statement.

Every change's bookkeeping rows go through :meth:`ChangeLogRepository.write`: one data-modifying
CTE inserting into the three tables from arrays (``unnest``), built once at import, so a single
change and a 10,000-item bulk change cost one round trip and one cached plan alike. Rows keep
their list order, so the identity ids (and the relay's order of events) follow it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.repository import json_text

_HISTORY = (
    ("entity_type", "text"),
    ("entity_id", "uuid"),
    ("from_status", "text"),
    ("to_status", "text"),
    ("actor", "text"),
    ("reason", "text"),
    ("source", "text"),
    ("request_id", "text"),
    ("batch_id", "uuid"),
)
_AUDIT = (
    ("actor", "text"),
    ("source", "text"),
    ("action", "text"),
    ("entity_type", "text"),
    ("entity_id", "uuid"),
    ("changes", "jsonb"),
    ("request_id", "text"),
    ("idempotency_key", "text"),
    ("batch_id", "uuid"),
    ("client_address", "text"),
)
_EVENTS = (
    ("event_id", "uuid"),
    ("type", "text"),
    ("entity_type", "text"),
    ("entity_id", "uuid"),
    ("occurred_at", "timestamptz"),
    ("data", "jsonb"),
    ("traceparent", "text"),
    ("request_id", "text"),
)
_TABLES = (
    ("status_history", "h", _HISTORY),
    ("audit_log", "a", _AUDIT),
    ("outbox_events", "e", _EVENTS),
)


def _insert_from_arrays(table: str, prefix: str, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(name for name, _ in columns)
    # JSONB travels as text (orjson on our side) and is cast back per row.
    arrays = ", ".join(
        f"CAST(:{prefix}_{name} AS {'text' if kind == 'jsonb' else kind}[])"
        for name, kind in columns
    )
    values = ", ".join(
        f"CAST(r.{name} AS jsonb)" if kind == "jsonb" else f"r.{name}" for name, kind in columns
    )
    # Built at import from the constants above; no value ever reaches the SQL text.
    return (
        f"INSERT INTO {table} ({names}) SELECT {values} "  # noqa: S608
        f"FROM unnest({arrays}) WITH ORDINALITY AS r({names}, n) ORDER BY r.n"
    )


_WRITE = text(
    "WITH history AS ({}), audit AS ({}) {}".format(
        *(_insert_from_arrays(table, prefix, columns) for table, prefix, columns in _TABLES)
    )
)


class ChangeLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def write(
        self,
        history: Sequence[dict[str, Any]] = (),
        audit: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Insert the rows (dicts keyed by column) into the three tables, one round trip."""
        if not (history or audit or events):
            return
        parameters: dict[str, Any] = {}
        for rows, (_, prefix, columns) in zip((history, audit, events), _TABLES, strict=True):
            for name, kind in columns:
                values = [row[name] for row in rows]
                if kind == "jsonb":
                    values = [json_text(value) for value in values]
                parameters[f"{prefix}_{name}"] = values
        await self.session.execute(_WRITE, parameters)
