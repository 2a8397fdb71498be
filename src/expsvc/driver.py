"""Prebuilt statements run straight on the driver, without SQLAlchemy's per-statement machinery.

The hot paths run statements that their repositories build once (``GET /v1/runs/{id}``'s read,
the runs list's pages, the idempotency claim, a transition, the change log). Through the ORM
session, about a third of the process's CPU for a ``GET /v1/runs/{id}`` went to SQLAlchemy's
execution path around the statement (execution context, cursor adapter, greenlet hops, result
objects), not to asyncpg or PostgreSQL (docs/performance.md, "Where the time goes"). Here such a
statement is compiled once, with the engine's dialect, to asyncpg's ``$n`` text and its bind
processors, and run with ``asyncpg.Connection.fetch`` on the session's own connection, inside
the session's transaction: SQLAlchemy's asyncpg adapter still owns BEGIN (started here, its
way, when the statement is the transaction's first) and COMMIT. Rows come back as named tuples
shaped like SQLAlchemy's (``row.version``, ``row._fields``).

What the driver raises goes through SQLAlchemy's own error handling, so errors keep their
SQLAlchemy types, a dead connection invalidates the pool and is retried exactly as before
(:func:`expsvc.db.failed_on_first_statement`), deadlocks keep their SQLSTATE, and the text
hides the bound values. This leans on the asyncpg adapter's internals (``_execute_mutex``,
``_transaction``, ``_start_transaction``, ``_handle_exception``), which is why SQLAlchemy is
pinned below 2.2 and tests/test_driver.py checks each behaviour.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import Enum
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.cache_key import NO_CACHE
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.util.concurrency import await_, greenlet_spawn

# Called with a statement's SQL before it runs on the driver, as SQLAlchemy's
# ``before_cursor_execute`` listeners are for its own (tests count a request's statements).
STATEMENT_OBSERVERS: list[Callable[[str], None]] = []
# ``Connection.info`` key the engine's statement counter uses (see expsvc.db).
STATEMENTS_OK = "expsvc_statements_ok"
# Execution option of a statement that PostgreSQL must plan with each call's values (see
# :attr:`DriverStatement.plans_each_call`).
PLAN_EACH_CALL = "expsvc_plan_each_call"


# ``Session.info`` key: (the transaction, its connection) as last handed to the driver.
_CONNECTION_OF_TRANSACTION = "expsvc_driver_connection"

# No value carried by the statement: the caller must give one.
_GIVEN = object()


class DriverStatement:
    """One statement as asyncpg runs it: ``$n`` text, the bound names in order with their
    SQLAlchemy bind processors and the values the statement carries itself (literals the
    builder bound), and the named tuple its rows become."""

    __slots__ = (
        "_carried",
        "_described",
        "_names",
        "_processors",
        "_row_type",
        "plans_each_call",
        "sql",
    )

    def __init__(
        self,
        sql: str,
        arguments: Sequence[tuple[str, Callable[[Any], Any] | None, Any]],
        *,
        plans_each_call: bool = False,
    ) -> None:
        self.sql = sql
        # Three flat tuples, not a tuple per argument: tuples of strings and plain values are
        # left out of the cyclic garbage collector's walks, and a worker keeps thousands of
        # statements (docs/performance.md, session 27).
        self._names = tuple(name for name, _, _ in arguments)
        processors = tuple(process for _, process, _ in arguments)
        self._processors = processors if any(processors) else None
        self._carried = tuple(carried for _, _, carried in arguments)
        self._row_type: Any = None
        # Run as the unnamed statement, which PostgreSQL plans with the call's values. A
        # statement prepared once is planned generically after five calls: for a filtered list
        # a plan from default selectivities (a status, a tag and a time window "match one
        # row") that reads and sorts every match where walking the creation index and stopping
        # at the page was 2 to 3 times cheaper (docs/performance.md). Costs the parse and the
        # planning on each call (:meth:`unnamed_rows`).
        self.plans_each_call = plans_each_call
        self._described: Any = None

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional arguments: ``values`` by name, else the statement's own value."""
        arguments = []
        for name, carried in zip(self._names, self._carried, strict=True):
            value = values.get(name, carried)
            if value is _GIVEN:
                raise KeyError(f"no value for the bound parameter {name!r}")
            arguments.append(value)
        if self._processors is not None:
            for index, process in enumerate(self._processors):
                if process is not None:
                    arguments[index] = process(arguments[index])
        return arguments

    async def unnamed_rows(self, driver: Any, arguments: list[Any]) -> Any:
        """Its records run as the unnamed statement on ``driver`` (an asyncpg connection).

        Described once, by its first run: asyncpg then sends the statement's Parse with its
        Bind and Execute, one round trip on any connection (it re-parses an unnamed statement
        marked unprepared on each run). Preparing it on each call cost a round trip of its own,
        an implicit transaction more on the server and a new asyncpg statement state: a fifth
        of the client's CPU for such a statement (docs/performance.md, 2026-12-08). The
        description (parameter and column types) is shared by every connection only when all
        its types are built in, whose OIDs are the same in every database; otherwise it is
        described on each call."""
        described = self._described
        if described is not None:
            return await PreparedStatement(driver, self.sql, described).fetch(*arguments)
        statement = await driver.prepare(self.sql, name="")
        if _built_in_types(statement):
            described = statement._state
            described.mark_unprepared()
            self._described = described
        return await statement.fetch(*arguments)

    def rows(self, records: Sequence[Any]) -> list[Any]:
        if not records:
            return []
        row_type = self._row_type
        if row_type is None:
            row_type = self._row_type = _row_type(tuple(records[0].keys()))
        return [row_type(*record) for record in records]


# PostgreSQL's first OID for objects a database creates: below it, the built-in types.
_FIRST_NORMAL_OBJECT_ID = 16384


def _built_in_types(statement: PreparedStatement) -> bool:
    """Whether every parameter and column type of ``statement`` is built in."""
    types = [*statement.get_parameters(), *(column.type for column in statement.get_attributes())]
    return all(type_.oid < _FIRST_NORMAL_OBJECT_ID for type_ in types)


@functools.lru_cache(maxsize=4096)
def _row_type(names: tuple[str, ...]) -> Any:
    """The named tuple of rows with these columns, one class for every statement that returns
    them: a class is about 30 objects the cyclic garbage collector walks, and the runs lists'
    thousands of statement shapes return a handful of column sets (a full collection walked
    436,000 objects for the 7,774 statements of issue 12's benchmark: 300 ms, a stall for every
    request the worker held; docs/performance.md, session 26)."""
    return namedtuple("Row", names, rename=True)


_COMPILED: weakref.WeakKeyDictionary[Executable, DriverStatement | None] = (
    weakref.WeakKeyDictionary()
)


StatementT = TypeVar("StatementT", bound=Executable)


class Built(Generic[StatementT]):
    """A statement known by a hashable ``key`` (what it depends on) and built by ``build`` on
    its first run: the driver then keeps only its compiled form (:class:`BuiltStatements`).

    For statements of which there are many shapes (a list's filters, order and page start):
    a cached SQLAlchemy construct holds about 300 objects the cyclic garbage collector
    traverses, and with a few thousand shapes cached a worker's full collections took 0.7 to
    0.9 s, stalling every request it was serving (docs/performance.md, "Filters at 1M runs").
    """

    __slots__ = ("build", "key")

    def __init__(self, key: Hashable, build: Callable[[], StatementT]) -> None:
        self.key = key
        self.build = build


class BuiltStatements:
    """The compiled forms of :class:`Built` statements by key, the least recently run
    dropped beyond ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._compiled: OrderedDict[Hashable, DriverStatement | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._compiled)

    def get(self, built: Built[Any], dialect: Dialect) -> DriverStatement | None:
        try:
            prepared = self._compiled[built.key]
        except KeyError:
            self.misses += 1
            prepared = self._compiled[built.key] = _compile(built.build(), dialect)
            if len(self._compiled) > self.size:
                self._compiled.popitem(last=False)
            return prepared
        self.hits += 1
        self._compiled.move_to_end(built.key)
        return prepared

    def clear(self) -> None:
        self._compiled.clear()
        self.hits = self.misses = 0


# Enough for every shape of issue 12's filter benchmark (its 4,488 cases make 7,304); an entry is
# a few dozen objects.
BUILT_STATEMENTS = BuiltStatements(16384)


def driver_statement(
    statement: Executable | Built[Any], dialect: Dialect
) -> DriverStatement | None:
    """``statement`` compiled for the driver, once (the engines of a process share one dialect
    configuration); None when it cannot run there as text (expanding ``IN`` lists and
    literal-rendered values are rendered per execution)."""
    if isinstance(statement, Built):
        return BUILT_STATEMENTS.get(statement, dialect)
    try:
        return _COMPILED[statement]
    except KeyError:
        pass
    prepared = _COMPILED[statement] = _compile(statement, dialect)
    return prepared


def _compile(statement: Executable, dialect: Dialect) -> DriverStatement | None:
    compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if "POSTCOMPILE" in compiled.string or compiled.literal_execute_params:
        return None
    processors = compiled._bind_processors
    binds = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
    arguments = []
    for name in compiled.positiontup or ():
        bind = binds[name]
        process = processors.get(name)
        if process is not None:
            process = _shared_processor(dialect, bind.type, process)
        arguments.append((name, process, _GIVEN if bind.required else bind.effective_value))
    plans_each_call = bool(statement.get_execution_options().get(PLAN_EACH_CALL))
    return DriverStatement(compiled.string, arguments, plans_each_call=plans_each_call)


# A bind processor by dialect, then by its type's cache key (SQLAlchemy's own compiled cache
# takes equal keys for the same type).
_PROCESSORS: weakref.WeakKeyDictionary[Dialect, dict[Hashable, Callable[[Any], Any]]] = (
    weakref.WeakKeyDictionary()
)


def _shared_processor(
    dialect: Dialect, type_: TypeEngine[Any], process: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """The one processor of every statement binding a type equal to ``type_``.

    A statement's processors are closures over type objects of its own (an ``ARRAY(Text)``
    and its dialect's copy, their event dispatchers), about 15 objects the cyclic garbage
    collector walks for each: kept with thousands of list statements, a worker's full
    collections took 250 to 1,000 ms under load, stalling every request it held
    (docs/performance.md, session 27)."""
    key = type_._static_cache_key
    if key is NO_CACHE or _holds_an_enum(type_):
        return process
    shared = _PROCESSORS.setdefault(dialect, {})
    try:
        return shared.setdefault(key, process)
    except TypeError:  # a type whose key holds an unhashable value
        return process


def _holds_an_enum(type_: TypeEngine[Any]) -> bool:
    """An ``Enum``'s cache key leaves out its values, which its processor checks and maps: two
    enums of other values would share one processor."""
    item_type = getattr(type_, "item_type", None)  # an ARRAY's
    return isinstance(type_, Enum) or (item_type is not None and _holds_an_enum(item_type))


class ReadSession(AsyncSession):
    """An autocommit read's session, whose SQLAlchemy ``Session`` is built on first use.

    :func:`fetch_rows` runs a prepared statement of a session not built yet on a connection of
    its own from the pool (each statement is consistent on its own in autocommit, as it was on
    the session's connection). Anything else (``execute``, ``connection()``, ``info``) builds
    the session, and from then on every statement runs on its connection, so one request never
    holds two of the pool's connections.
    """

    def __init__(self, bind: AsyncEngine, **options: Any) -> None:
        # Not AsyncSession.__init__ yet: it builds the Session (see __getattr__).
        self._async_bind = bind
        self._async_binds = {}
        self.engine = bind
        self._session_options = options

    def __getattr__(self, name: str) -> Any:
        # Only reached while the attributes AsyncSession.__init__ sets are missing.
        if name not in ("sync_session", "_proxied"):
            raise AttributeError(name)
        AsyncSession.__init__(self, self._async_bind, **self._session_options)
        return self.__dict__[name]

    @property
    def built(self) -> bool:
        return "sync_session" in self.__dict__

    async def close(self) -> None:
        if self.built:
            await super().close()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.built:
            await super().__aexit__(type_, value, traceback)


def read_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads: autocommit (no BEGIN/COMMIT round trips), built on first use."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        class_=ReadSession,
        expire_on_commit=False,
        autoflush=False,
    )


def session_engine(session: AsyncSession) -> AsyncEngine:
    """The engine ``session`` runs on (a :class:`ReadSession` not built yet included)."""
    if isinstance(session, ReadSession):
        return session.engine
    bind = session.bind
    assert isinstance(bind, AsyncEngine), "expsvc sessions are bound to an engine"
    return bind


async def fetch_rows(
    session: AsyncSession, statement: Executable | Built[Any], values: Mapping[str, Any]
) -> Sequence[Any]:
    """The rows of ``statement`` (built once and reused by its repository: it is compiled once
    here) with ``values`` bound, run on the driver in the session's transaction (a read's on a
    pooled connection of its own); through SQLAlchemy when it cannot run there as text."""
    if isinstance(session, ReadSession) and not session.built:
        engine = session.engine.sync_engine
        prepared = driver_statement(statement, engine.dialect)
        if prepared is not None:
            arguments = prepared.arguments(values)
            for observe in STATEMENT_OBSERVERS:
                observe(prepared.sql)
            records = await greenlet_spawn(_fetch_pooled, engine, prepared, arguments)
            return prepared.rows(records)
    connection = await _transaction_connection(session)
    prepared = driver_statement(statement, connection.dialect)
    if prepared is None:
        executable = statement.build() if isinstance(statement, Built) else statement
        rows: Sequence[Any] = (await session.execute(executable, values)).all()
        return rows
    adapted: Any = connection.connection.dbapi_connection
    arguments = prepared.arguments(values)
    for observe in STATEMENT_OBSERVERS:
        observe(prepared.sql)
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()  # BEGIN (not in autocommit), as the adapter does
            records = await _records(adapted.driver_connection, prepared, arguments)
    except Exception as error:
        failed = (connection, adapted, prepared.sql, tuple(arguments), error)
        await greenlet_spawn(_raise_as_sqlalchemy, *failed)
        raise  # not reached: the above always raises
    connection.info[STATEMENTS_OK] = connection.info.get(STATEMENTS_OK, 0) + 1
    return prepared.rows(records)


async def _records(driver: Any, prepared: DriverStatement, arguments: list[Any]) -> Any:
    if prepared.plans_each_call:
        return await prepared.unnamed_rows(driver, arguments)
    return await driver.fetch(prepared.sql, *arguments)


def _fetch_pooled(engine: Engine, prepared: DriverStatement, arguments: list[Any]) -> Any:
    """Check out, run, check in: in one greenlet, so a checkout that must wait for the pool or
    connect, and a checkin that closes an overflow connection, await as SQLAlchemy's own do."""
    try:
        pooled: Any = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        # As an engine Connection would: SQLAlchemy's error, the pool invalidated on a
        # disconnect (PostgreSQL down answers 503, expsvc.errors).
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
        raise
    try:
        adapted = pooled.dbapi_connection
        try:
            return await_(_records(adapted.driver_connection, prepared, arguments))
        except Exception as error:
            # The checkout's first statement: a dead connection is retried (expsvc.routing).
            connection = Connection(engine, connection=pooled)
            _raise_as_sqlalchemy(connection, adapted, prepared.sql, tuple(arguments), error)
            raise  # not reached: the above always raises
    finally:
        pooled.close()


async def _transaction_connection(session: AsyncSession) -> Any:
    """The session's connection (SQLAlchemy's sync ``Connection``) for its current transaction.

    ``AsyncSession.connection()`` crosses into a new greenlet on every call, about 1 % of a
    write's CPU each time, and a write runs four or five statements in one transaction: the
    connection is kept for the transaction that handed it out and asked for again only when
    the session's transaction is another one (committed, rolled back) or no longer active.
    """
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION_OF_TRANSACTION, (None, None))
    # Active: not deactivated by a failed statement (then SQLAlchemy's own call raises).
    if transaction is not None and cached[0] is transaction and transaction.is_active:
        return cached[1]
    connection: Any = (await session.connection()).sync_connection
    session.info[_CONNECTION_OF_TRANSACTION] = (session.sync_session.get_transaction(), connection)
    return connection


def _raise_as_sqlalchemy(
    connection: Any, adapted: Any, sql: str, arguments: tuple[Any, ...], error: Exception
) -> None:
    """Raise ``error`` as SQLAlchemy would have: the adapter's DB-API translation, then the
    connection's handling (``handle_error`` events, disconnect detection, pool invalidation)."""
    try:
        adapted._handle_exception(error)
    except Exception as dbapi_error:
        connection._handle_dbapi_exception(dbapi_error, sql, arguments, None, None)
