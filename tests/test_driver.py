"""Prebuilt statements on the driver (expsvc.driver): SQLAlchemy's rows, transactions and errors."""

from __future__ import annotations

import enum
import gc
import traceback
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import (
    ARRAY,
    Boolean,
    Enum,
    Float,
    Select,
    Text,
    bindparam,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy import exc as sa_exc

from expsvc.auth.access import access_parameters
from expsvc.auth.principal import LOCAL_PRINCIPAL
from expsvc.db import Database, create_engine, failed_on_first_statement
from expsvc.driver import (
    PLAN_EACH_CALL,
    Built,
    ReadSession,
    driver_statement,
    fetch_rows,
)
from expsvc.models import runs
from expsvc.repository import _readable_by_id
from expsvc.run.repository import RunRepository
from tests.conftest import make_settings
from tests.helpers import create_experiment, create_run

SECRET_VALUE = -7.123456789
_SQUARE_ROOT = select(func.sqrt(bindparam("value", type_=Float)).label("root"))
_TRANSACTION_ID = select(func.txid_current().label("xid"))
_BACKEND = select(func.pg_backend_pid().label("pid"))


async def test_a_read_session_returns_the_rows_sqlalchemy_returns(
    client: httpx.AsyncClient, database: Database
) -> None:
    experiment = await create_experiment(client)
    run_ids = [uuid.UUID((await create_run(client, experiment["id"]))["id"]) for _ in range(3)]
    statement = select(runs).where(runs.c.id == bindparam("id"))
    async with database.read_sessionmaker() as session:
        for run_id in run_ids:
            on_driver = await fetch_rows(session, statement, {"id": run_id})
            through_orm = (await session.execute(statement, {"id": run_id})).all()
            assert [tuple(row) for row in on_driver] == [tuple(row) for row in through_orm]
            assert on_driver[0]._fields == through_orm[0]._fields
            assert on_driver[0].id == run_id
            assert on_driver[0].version == through_orm[0].version
        assert await fetch_rows(session, statement, {"id": uuid.uuid4()}) == []


async def test_statements_are_compiled_once_and_expanding_ones_stay_with_sqlalchemy(
    database: Database,
) -> None:
    dialect = database.engine.dialect
    readable = _readable_by_id(RunRepository)
    compiled = driver_statement(readable, dialect)
    assert compiled is not None
    assert "$1" in compiled.sql
    assert driver_statement(readable, dialect) is compiled
    # An expanding IN list is rendered per execution: not driver text, SQLAlchemy runs it.
    expanding = select(runs.c.id).where(runs.c.id.in_(bindparam("ids", expanding=True)))
    assert driver_statement(expanding, dialect) is None
    async with database.read_sessionmaker() as session:
        assert await fetch_rows(session, expanding, {"ids": [uuid.uuid4()]}) == []
    values = {"id": uuid.uuid4(), **access_parameters(LOCAL_PRINCIPAL)}
    async with database.read_sessionmaker() as session:
        assert await fetch_rows(session, readable, values) == []


def _by_name(label: str) -> Select[Any]:
    return select(runs.c.id.label(label)).where(runs.c.name == bindparam("name"))


_PREPARED = _by_name("cached")
_PLANNED_EACH_CALL = _by_name("each_call").execution_options(**{PLAN_EACH_CALL: True})
_CACHED_PLANS = (
    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1"
)


async def test_a_statement_planned_each_call_never_gets_a_generic_plan(
    database: Database,
) -> None:
    """PostgreSQL plans a cached prepared statement generically from its sixth call on; one
    marked PLAN_EACH_CALL runs as the unnamed statement, planned with each call's values."""
    dialect = database.engine.dialect
    cached, each_call = (
        driver_statement(_PREPARED, dialect),
        driver_statement(_PLANNED_EACH_CALL, dialect),
    )
    assert cached is not None
    assert each_call is not None
    assert not cached.plans_each_call
    assert each_call.plans_each_call
    async with database.read_sessionmaker() as session:
        for call in range(8):
            for statement in (_PREPARED, _PLANNED_EACH_CALL):
                assert await fetch_rows(session, statement, {"name": f"run-{call}"}) == []
        driver = (await session.connection()).sync_connection.connection.driver_connection
        (plans,) = await driver.fetch(_CACHED_PLANS, cached.sql)
        assert tuple(plans) == (3, 5)  # the cached one: 5 custom plans, then generic
        # The other was never a named (cached) statement of the session.
        assert await driver.fetch(_CACHED_PLANS, each_call.sql) == []


def _each_call(sql: str) -> Any:
    """A statement of its own (the driver keeps a statement's description for the process),
    planned with each call's values."""
    return text(sql).execution_options(**{PLAN_EACH_CALL: True})


@pytest.fixture
def described(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of each statement asyncpg prepares (describes) from now on."""
    queries: list[str] = []
    prepare = asyncpg.Connection.prepare

    async def counted(self: asyncpg.Connection, query: str, **options: Any) -> Any:
        queries.append(query)
        return await prepare(self, query, **options)

    monkeypatch.setattr(asyncpg.Connection, "prepare", counted)
    return queries


async def test_a_statement_planned_each_call_is_described_once_for_every_connection(
    database: Database, described: list[str]
) -> None:
    """Its first run describes it (a Parse and Describe round trip); every later run, on any
    connection, sends its Parse with its Bind. Another unnamed statement run in between on the
    same connection does not change what it returns."""
    tag = uuid.uuid4().hex
    square = _each_call(f"SELECT CAST(:value AS integer) * :value AS square, '{tag}' AS tag")
    other = _each_call(f"SELECT CAST(:word AS text) || '{tag}' AS word")
    pids = set()
    async with database.sessionmaker() as first, database.sessionmaker() as second:
        for value in range(1, 5):
            for session in (first, second):  # two connections, each in its transaction
                (row,) = await fetch_rows(session, square, {"value": value})
                assert (row.square, row.tag) == (value * value, tag)
                (word,) = await fetch_rows(session, other, {"word": str(value)})
                assert word.word == f"{value}{tag}"
                (pid,) = await fetch_rows(session, _BACKEND, {})
                pids.add(pid.pid)
    assert len(pids) == 2
    prepared = driver_statement(square, database.engine.dialect)
    assert prepared is not None
    assert described.count(prepared.sql) == 1
    # A failed run leaves nothing behind: the next one is parsed again, on the same connection.
    async with database.read_sessionmaker() as session:
        with pytest.raises(sa_exc.DBAPIError):
            await fetch_rows(session, square, {"value": 2**20})  # integer out of range
        (row,) = await fetch_rows(session, square, {"value": 3})
        assert row.square == 9
    assert described.count(prepared.sql) == 1


async def test_a_statement_planned_each_call_with_a_type_of_the_database_is_described_each_call(
    database: Database, database_url: str, described: list[str]
) -> None:
    """A type the database created has an OID of that database: its description is not kept
    for the process (another database's same type has another OID)."""
    owner = await asyncpg.connect(database_url)
    try:
        await owner.execute("CREATE TYPE test_mood AS ENUM ('calm', 'happy')")
    finally:
        await owner.close()
    mood = _each_call(f"SELECT CAST(:mood AS test_mood) AS mood, '{uuid.uuid4().hex}' AS tag")
    async with database.read_sessionmaker() as session:
        for value in ("calm", "happy", "calm"):
            (row,) = await fetch_rows(session, mood, {"mood": value})
            assert row.mood == value
    prepared = driver_statement(mood, database.engine.dialect)
    assert prepared is not None
    assert described.count(prepared.sql) == 3


async def test_a_statement_on_the_driver_runs_in_the_sessions_transaction(
    database: Database,
) -> None:
    async with database.sessionmaker() as session:  # a write transaction
        (on_driver,) = await fetch_rows(session, _TRANSACTION_ID, {})
        through_orm = (await session.execute(_TRANSACTION_ID)).scalar_one()
        assert on_driver.xid == through_orm  # BEGIN was sent first, the adapter's way
        await session.rollback()
    async with database.read_sessionmaker() as session:  # autocommit: one per statement
        (first,) = await fetch_rows(session, _TRANSACTION_ID, {})
        (second,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert first.xid != second.xid


async def test_a_session_that_commits_and_rolls_back_runs_each_statement_in_its_transaction(
    database: Database,
) -> None:
    # The driver keeps the connection of the session's transaction between statements
    # (expsvc.driver._transaction_connection): never past the transaction's end.
    async with database.sessionmaker() as session:
        (first,) = await fetch_rows(session, _TRANSACTION_ID, {})
        (again,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert first.xid == again.xid
        await session.commit()
        (after_commit,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert after_commit.xid != first.xid
        assert (await session.execute(_TRANSACTION_ID)).scalar_one() == after_commit.xid
        await session.rollback()
        (after_rollback,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert after_rollback.xid not in (first.xid, after_commit.xid)
        with pytest.raises(sa_exc.DBAPIError):
            await fetch_rows(session, _SQUARE_ROOT, {"value": SECRET_VALUE})
        # The failed transaction is not used again behind the session's back.
        with pytest.raises(sa_exc.SQLAlchemyError):
            await fetch_rows(session, _TRANSACTION_ID, {})
        await session.rollback()
        (fresh,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert fresh.xid not in (first.xid, after_commit.xid, after_rollback.xid)


async def test_a_failing_read_raises_sqlalchemys_error_without_its_values(
    database: Database,
) -> None:
    async with database.read_sessionmaker() as session:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await fetch_rows(session, _SQUARE_ROOT, {"value": SECRET_VALUE})
    rendered = "".join(traceback.format_exception(raised.value))
    assert "square root of a negative number" in rendered
    assert "SQL parameters hidden" in rendered
    assert str(SECRET_VALUE) not in rendered
    assert not raised.value.connection_invalidated


async def test_a_dead_connection_found_by_a_read_is_invalidated_and_retryable(
    database: Database, database_url: str
) -> None:
    async with database.read_sessionmaker() as session:
        assert await fetch_rows(session, _SQUARE_ROOT, {"value": 4.0})
    connection = await asyncpg.connect(database_url)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'expsvc'"
        )
    finally:
        await connection.close()
    assert killed == 1
    async with database.read_sessionmaker() as session:
        with pytest.raises(sa_exc.DBAPIError) as raised:
            await fetch_rows(session, _SQUARE_ROOT, {"value": 9.0})
    assert raised.value.connection_invalidated
    assert failed_on_first_statement(raised.value)  # what lets the route run it again
    async with database.read_sessionmaker() as session:  # the pool has a fresh connection
        rows = await fetch_rows(session, _SQUARE_ROOT, {"value": 9.0})
    assert [row.root for row in rows] == [3.0]


async def test_a_read_runs_each_prepared_statement_on_a_pooled_connection_without_a_session(
    database: Database,
) -> None:
    pool = database.engine.sync_engine.pool
    async with database.read_sessionmaker() as session:
        assert isinstance(session, ReadSession)
        (first,) = await fetch_rows(session, _TRANSACTION_ID, {})
        (second,) = await fetch_rows(session, _TRANSACTION_ID, {})
        assert first.xid != second.xid  # autocommit, as on the session's connection
        assert not session.built  # no SQLAlchemy Session was needed
        assert pool.checkedout() == 0  # each statement gave its connection back


async def test_a_read_session_once_built_runs_every_statement_on_its_own_connection(
    database: Database,
) -> None:
    # A request never holds two of the pool's connections: once anything built the session
    # (an ORM or Core execute), prepared statements run on the session's connection too.
    pool = database.engine.sync_engine.pool
    async with database.read_sessionmaker() as session:
        through_orm = (await session.execute(_BACKEND)).scalar_one()
        assert isinstance(session, ReadSession)
        assert session.built
        (on_driver,) = await fetch_rows(session, _BACKEND, {})
        assert on_driver.pid == through_orm
        assert pool.checkedout() == 1
    assert pool.checkedout() == 0


async def test_a_failing_statement_gives_its_pooled_connection_back(database: Database) -> None:
    pool = database.engine.sync_engine.pool
    async with database.read_sessionmaker() as session:
        with pytest.raises(sa_exc.DBAPIError):
            await fetch_rows(session, _SQUARE_ROOT, {"value": SECRET_VALUE})
        assert pool.checkedout() == 0
        (row,) = await fetch_rows(session, _SQUARE_ROOT, {"value": 16.0})
        assert row.root == 4.0


@pytest.mark.parametrize(("setting", "expected"), [(None, "0"), ("3", "3"), ("", "server")])
async def test_the_service_connections_parallel_workers_follow_the_setting(
    database_url: str, setting: str | None, expected: str
) -> None:
    overrides = {} if setting is None else {"db_parallel_workers_per_gather": setting}
    settings = make_settings(database_url, **overrides)
    server = await asyncpg.connect(database_url)
    try:
        servers_own = await server.fetchval("SHOW max_parallel_workers_per_gather")
    finally:
        await server.close()
    engine = create_engine(settings, settings.database_url or "")
    try:
        async with engine.connect() as connection:
            shown = await connection.scalar(text("SHOW max_parallel_workers_per_gather"))
    finally:
        await engine.dispose()
    assert shown == (servers_own if expected == "server" else expected)


async def test_statements_returning_the_same_columns_share_one_row_class(
    database: Database,
) -> None:
    """One named tuple class per set of columns, not per statement: a class is about 30 objects
    the garbage collector walks, and a worker keeps thousands of list statements."""
    one = select(func.sqrt(bindparam("value", type_=Float)).label("root"))
    other = select((func.sqrt(bindparam("value", type_=Float)) + 1).label("root"))
    renamed = select(func.sqrt(bindparam("value", type_=Float)).label("other"))
    async with database.read_sessionmaker() as session:
        [first] = await fetch_rows(session, one, {"value": 4.0})
        [second] = await fetch_rows(session, other, {"value": 4.0})
        [third] = await fetch_rows(session, renamed, {"value": 4.0})
    assert (first.root, second.root, third.other) == (2.0, 3.0, 2.0)
    assert type(first) is type(second)
    assert type(third) is not type(first)


async def test_statements_binding_equal_types_share_one_bind_processor(
    database: Database,
) -> None:
    """Each list shape is its own statement with its own type objects; what the driver keeps of
    one is a few objects, not its processors' closures over those types (about 38 objects each
    before, which a worker's full garbage collections walked for every shape it had served)."""

    def shape(number: int) -> Select[Any]:
        tags = bindparam("tags", type_=ARRAY(Text))
        flag = bindparam("flag", type_=Boolean)
        return select(
            literal(number).label("number"),
            func.cardinality(tags).label("count"),
            (flag == true()).label("flag"),
        )

    async with database.read_sessionmaker() as session:
        for number in range(3):
            built = Built(("shared processors", number), lambda number=number: shape(number))
            [row] = await fetch_rows(session, built, {"tags": ["a", "b"], "flag": True})
            assert (row.number, row.count, row.flag) == (number, 2, True)

    dialect = database.engine.sync_engine.dialect
    kept = 300
    gc.collect()
    before = len(gc.get_objects())
    for number in range(3, 3 + kept):
        built = Built(("shared processors", number), lambda number=number: shape(number))
        assert driver_statement(built, dialect) is not None
    gc.collect()
    assert (len(gc.get_objects()) - before) / kept < 5


class _Colour(enum.Enum):
    red = "r"


class _Shape(enum.Enum):
    box = "b"


async def test_statements_binding_enums_of_other_values_keep_their_own_processors(
    database: Database,
) -> None:
    """An Enum's cache key leaves out its values: the processor of one enum type must not
    check or map another's."""
    colour = select(bindparam("value", type_=Enum(_Colour, native_enum=False)).label("value"))
    shape = select(bindparam("value", type_=Enum(_Shape, native_enum=False)).label("value"))
    async with database.read_sessionmaker() as session:
        [red] = await fetch_rows(session, colour, {"value": _Colour.red})
        [box] = await fetch_rows(session, shape, {"value": _Shape.box})
    assert (red.value, box.value) == ("red", "box")
