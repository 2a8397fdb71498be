"""A failing statement's error text (logged with its traceback) never shows bound values."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from expsvc.db import Database
from expsvc.observability.logging import configure_logging
from expsvc.settings import LogFormat, Settings
from tests.problems import assert_problem

DISTINCTIVE = "leak-probe-7c1e9b4d"


@pytest.fixture
def service_logging(settings: Settings) -> Iterator[None]:
    """Logs rendered as the service renders them (JSON lines, tracebacks as text)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(settings.model_copy(update={"log_format": LogFormat.json}))
    try:
        yield
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level


async def _refuse_names_starting_with_leak(database_url: str) -> None:
    # The test's own database: a rule the service does not know, so the INSERT it sends fails
    # in PostgreSQL with an error no handler expects (the 500 path, traceback logged).
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "ALTER TABLE experiments ADD CONSTRAINT no_leak_probe CHECK (name NOT LIKE 'leak-%')"
        )
    finally:
        await connection.close()


@pytest.mark.usefixtures("service_logging")
async def test_a_failing_write_logs_and_answers_without_its_values(
    client: httpx.AsyncClient, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _refuse_names_starting_with_leak(database_url)

    response = await client.post("/v1/experiments", json={"name": DISTINCTIVE})

    assert_problem(response, 500, "internal-error")
    assert DISTINCTIVE not in response.text
    logged = capsys.readouterr().out
    assert "no_leak_probe" in logged  # the failure and its statement are logged ...
    assert "INSERT INTO experiments" in logged
    assert "SQL parameters hidden" in logged
    assert DISTINCTIVE not in logged  # ... its values are not


async def test_the_service_engine_keeps_values_out_of_error_text(database: Database) -> None:
    insert = text("INSERT INTO probe (name) VALUES (:name)")
    async with database.engine.connect() as connection:
        await connection.execute(text("CREATE TEMPORARY TABLE probe (name text UNIQUE)"))
        await connection.execute(insert, {"name": DISTINCTIVE})
        with pytest.raises(IntegrityError) as raised:
            await connection.execute(insert, {"name": DISTINCTIVE})

    rendered = "".join(traceback.format_exception(raised.value))  # with the driver's cause
    assert "probe_name_key" in rendered
    assert "SQL parameters hidden" in rendered
    assert DISTINCTIVE not in rendered  # neither bound parameter nor PostgreSQL's DETAIL
