"""The transition engine: the round trips of one transition, and many rows with skipping."""

from __future__ import annotations

import contextlib
import uuid

import asyncpg
import httpx

from expsvc.auth.principal import Principal
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.lifecycle import Action, EntityKind, Status
from expsvc.transitions import Refusal, transition_many
from tests.capture.support import make_capture, make_run
from tests.statements import sent_statements

_CONTEXT = ActionContext(principal=Principal("tester", is_admin=True), request_id=None)
# Not an admin: the owner of what the test client (the local user, "anonymous") creates.
_OWNER = ActionContext(principal=Principal("anonymous"), request_id=None)


def statements(database: Database) -> contextlib.AbstractContextManager[list[str]]:
    """The SQL statements sent to the server meanwhile."""
    return sent_statements(database.engine)


async def test_one_transition_is_one_statement_and_one_change_log_statement(
    client: httpx.AsyncClient, database: Database
) -> None:
    run = await make_run(client)
    async with database.sessionmaker() as session, session.begin():
        with statements(database) as sent:
            (done,) = await transition_many(
                session, EntityKind.run, [uuid.UUID(run["id"])], Action.archive, _CONTEXT
            )
    assert (done.refusal, done.previous, done.status) == (None, Status.draft, Status.archived)
    assert len(sent) == 2
    assert "FOR NO KEY UPDATE" in sent[0]
    assert "INSERT INTO status_history" in sent[1]


async def test_the_role_check_rides_in_the_transition_statement(
    client: httpx.AsyncClient, database: Database
) -> None:
    run = await make_run(client)
    async with database.sessionmaker() as session, session.begin():
        with statements(database) as sent:
            (done,) = await transition_many(
                session, EntityKind.run, [uuid.UUID(run["id"])], Action.archive, _OWNER
            )
    assert (done.refusal, done.status) == (None, Status.archived)
    assert len(sent) == 2
    assert "experiment_grants" in sent[0]


async def test_a_finish_adds_its_cascade_one_statement_and_its_record(
    client: httpx.AsyncClient, database: Database
) -> None:
    run = await make_run(client, "start")
    capture = await make_capture(client, run["id"], "start")
    async with database.sessionmaker() as session, session.begin():
        with statements(database) as sent:
            await transition_many(
                session, EntityKind.run, [uuid.UUID(run["id"])], Action.finish, _CONTEXT
            )
    assert len(sent) == 4  # transition, its record, the sessions' stop, its record
    assert (await client.get(f"/v1/captures/{capture['id']}")).json()["status"] == "finished"


async def test_many_rows_skip_the_locked_and_refuse_by_the_table(
    client: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    running = uuid.UUID((await make_run(client, "start"))["id"])
    draft = uuid.UUID((await make_run(client))["id"])
    held = uuid.UUID((await make_run(client, "start"))["id"])
    holder = await asyncpg.connect(database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM runs WHERE id = $1 FOR NO KEY UPDATE", held)
        async with database.sessionmaker() as session, session.begin():
            planned = await transition_many(
                session, EntityKind.run, [running, draft, held], Action.fail, _CONTEXT,
                reason="lost", atomic=False, skip_locked=True,
            )  # fmt: skip
        await transaction.rollback()
    finally:
        await holder.close()
    outcomes = {p.id: (p.refusal, p.status) for p in planned}
    assert outcomes == {
        running: (None, Status.failed),
        draft: (Refusal.table, Status.draft),
        held: (Refusal.not_found, None),
    }
    assert (await client.get(f"/v1/runs/{held}")).json()["status"] == "running"
