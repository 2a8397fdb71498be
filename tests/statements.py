"""Counting the statements a request sends: SQLAlchemy's and those run on the driver."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from expsvc.driver import STATEMENT_OBSERVERS


@contextlib.contextmanager
def sent_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile through ``engine`` (SQLAlchemy's cursor statements)
    and on the driver (expsvc.driver), in order, whitespace collapsed; BEGIN and COMMIT are
    not among them."""
    sent: list[str] = []

    def record(statement: str) -> None:
        sent.append(" ".join(statement.split()))

    def record_cursor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        record(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record_cursor)
    STATEMENT_OBSERVERS.append(record)
    try:
        yield sent
    finally:
        STATEMENT_OBSERVERS.remove(record)
        event.remove(engine.sync_engine, "before_cursor_execute", record_cursor)
