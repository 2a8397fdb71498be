"""What a change leaves behind (status history, audit rows, outbox events) in one statement.

Every change's bookkeeping rows go through :meth:`ChangeLogRepository.write`: one data-modifying
CTE inserting into the three tables from arrays (``unnest``), built once at import, so a single
change and a 10,000-item bulk change cost one round trip and one cached plan alike. Rows keep
their list order, so the identity ids (and the relay's order of events) follow it.

A request under an ``Idempotency-Key`` ends with the statement that stores its response. Its
change-log rows wait for that statement instead (:meth:`ChangeLogRepository.defer`) and are
written as CTEs in front of it (:func:`followed_by`): one round trip fewer per keyed write, and
the writes of a request that changes several entities (a run start that starts its experiment)
become one statement too. Nothing in a request reads these tables after writing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.driver import fetch_rows
from expsvc.observability.domain import note_change_log
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
    ("server_request_id", "text"),
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


_HISTORY_INSERT, _AUDIT_INSERT, _EVENTS_INSERT = (
    _insert_from_arrays(table, prefix, columns) for table, prefix, columns in _TABLES
)
_WRITE = text(f"WITH history AS ({_HISTORY_INSERT}), audit AS ({_AUDIT_INSERT}) {_EVENTS_INSERT}")
_PENDING = "expsvc_pending_change_log"  # key in the session's ``info``


def followed_by(statement: str) -> str:
    """SQL writing the change log (the parameters of :meth:`PendingChanges.parameters`) and
    then ``statement``, a data-modifying statement: all in one statement."""
    return (
        f"WITH history AS ({_HISTORY_INSERT}), audit AS ({_AUDIT_INSERT}), "
        f"events AS ({_EVENTS_INSERT}) {statement}"
    )


@dataclass
class PendingChanges:
    """Change-log rows waiting for the transaction's last statement, in the order written."""

    history: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.history or self.audit or self.events)

    def parameters(self) -> dict[str, Any]:
        return _parameters(self.history, self.audit, self.events)


def _parameters(
    history: Sequence[dict[str, Any]],
    audit: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for rows, (_, prefix, columns) in zip((history, audit, events), _TABLES, strict=True):
        for name, kind in columns:
            values = [row[name] for row in rows]
            if kind == "jsonb":
                values = [json_text(value) for value in values]
            parameters[f"{prefix}_{name}"] = values
    return parameters


class ChangeLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def write(
        self,
        history: Sequence[dict[str, Any]] = (),
        audit: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Insert the rows (dicts keyed by column) into the three tables, one round trip (or,
        deferred, none now: they join the transaction's last statement)."""
        if not (history or audit or events):
            return
        note_change_log(self.session, history, audit)  # counted if the transaction commits
        pending: PendingChanges | None = self.session.info.get(_PENDING)
        if pending is not None:
            pending.history += history
            pending.audit += audit
            pending.events += events
            return
        await fetch_rows(self.session, _WRITE, _parameters(history, audit, events))

    def defer(self) -> None:
        """Hold this session's change-log rows until :meth:`take_pending` (the caller then
        writes them with its last statement, or drops them with a transaction that rolls
        back)."""
        self.session.info[_PENDING] = PendingChanges()

    def take_pending(self) -> PendingChanges:
        """The rows held since :meth:`defer`; writes go straight to the tables again."""
        pending: PendingChanges = self.session.info.pop(_PENDING, None) or PendingChanges()
        return pending
