"""The route classes: one transaction per request, committed before the response is sent.

:class:`TransactionalRoute` opens the request's session, runs the endpoint (through the
idempotency check on POST), and commits after the endpoint returns and *before* the response is
sent, so a failed commit becomes an error response and is never reported as success. Services
only flush; :func:`get_session` hands endpoints the route's session.

Reads (GET, HEAD) run without BEGIN/COMMIT: each statement is consistent on its own, as it is
in a READ COMMITTED transaction, and two round trips fewer per read. :class:`SnapshotRoute` is
for reads that stream many statements' worth of rows (exports): one read-only snapshot
transaction that lives as long as the streamed answer.

A request is run again, once, when its transaction cannot have written anything and a second
attempt will probably succeed: a dead pooled connection failed its first statement (the pool is
invalidated on a disconnect, so the retry gets a fresh connection; no pre-ping round trip on
every checkout), or PostgreSQL broke a deadlock or a serialization failure by aborting it.

With a read replica (``EXPSVC_DATABASE_REPLICA_URL``, :mod:`expsvc.replica`), reads of routes
that allow it go to the replica when it is fresh enough, and run again on the primary when it
fails them; successful writes then answer the ``X-Expsvc-LSN`` a later read may send back.
Without one, none of this costs a statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Coroutine
from typing import Annotated, Any, ClassVar

import structlog
from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from expsvc import jitter
from expsvc.db import Database, Sessions, failed_on_first_statement, sqlstate
from expsvc.errors import ServiceUnavailable
from expsvc.idempotency.route import (
    declare_idempotency,
    respond_idempotently,
    without_declaration,
)
from expsvc.query_models import with_query_models_parsed
from expsvc.replica import LSN_HEADER, Replica
from expsvc.settings import Settings

# OpenAPI extension on operations that ignore Idempotency-Key (see RepeatableRoute).
IGNORED_KEY_EXTENSION = "x-idempotency-key"
# Deadlock and serialization failure: PostgreSQL aborted the transaction, nothing was applied.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_READ_METHODS = frozenset({"GET", "HEAD"})

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_log = structlog.get_logger("expsvc.routing")


class CommitOutcomeUnknown(ServiceUnavailable):
    slug, title = "commit-outcome-unknown", "Commit outcome unknown"


class TransactionAborted(ServiceUnavailable):
    slug, title = "transaction-aborted", "Transaction aborted by a conflict"


async def get_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = request.scope.get("state", {}).get("db_session")
    if session is None:
        raise RuntimeError("no database session: the route must use TransactionalRoute")
    return session


DbSession = Annotated[AsyncSession, Depends(get_session)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


CurrentSettings = Annotated[Settings, Depends(get_settings)]


class TransactionalRoute(APIRoute):
    """One transaction per request: opened before the endpoint, committed before the response.

    POST routes also honour ``Idempotency-Key`` (see :mod:`expsvc.idempotency`), unless the
    route class sets ``honours_idempotency_key`` to False. ``attempts`` bounds the runs of a
    request that met a deadlock or serialization failure. GET and HEAD requests may read from
    the replica unless ``reads_from_replica`` is False.
    """

    honours_idempotency_key: ClassVar[bool] = True
    attempts: ClassVar[int] = 2
    reads_from_replica: ClassVar[bool] = True

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        if self.honours_idempotency_key:
            options["dependencies"], options["responses"] = declare_idempotency(
                options.get("methods"), options.get("dependencies"), options.get("responses")
            )
        else:
            options["openapi_extra"] = {
                **(options.get("openapi_extra") or {}),
                IGNORED_KEY_EXTENSION: "ignored",
            }
        super().__init__(path, endpoint, **options)

    def get_route_handler(self) -> Handler:
        # The handler parses query models in one pass; the OpenAPI document keeps reading the
        # route's own dependant (expsvc.query_models).
        declared = self.dependant
        self.dependant = with_query_models_parsed(declared)
        if self.honours_idempotency_key:
            self.dependant = without_declaration(self.dependant)
        try:
            handler = super().get_route_handler()
        finally:
            self.dependant = declared
        if self.honours_idempotency_key:
            endpoint_handler = handler
            seal = bool(getattr(self.response_model, "holds_secret", False))

            async def handler(request: Request) -> Response:
                session: AsyncSession = request.state.db_session
                return await respond_idempotently(request, session, endpoint_handler, seal=seal)

        attempts = self.attempts
        run_once = self.run_once
        replica_reads = self.reads_from_replica

        async def in_transaction(request: Request) -> Response:
            database: Database = request.app.state.database
            read_only = request.method in _READ_METHODS
            replica = database.replica
            sessions: Sessions = database
            if replica is not None and read_only and replica_reads:
                lsn = request.headers.get(LSN_HEADER)
                sessions = replica if await replica.choose(lsn) else database
            attempt = 1
            while True:
                try:
                    response = await run_once(sessions, request, handler, read_only)
                except Exception as error:
                    if sessions is not database and replica and replica.worth_the_primary(error):
                        sessions = database  # the read again, on the primary
                        continue
                    if not isinstance(error, sa_exc.DBAPIError):
                        raise
                    if _worth_another_attempt(error, attempt, attempts):
                        pass
                    elif sqlstate(error) in _RETRYABLE_SQLSTATES:
                        raise _transaction_aborted(request) from error
                    else:
                        raise
                else:
                    if replica is not None and not read_only and response.status_code < 400:
                        await _tell_position(replica, response)
                    return response
                attempt += 1
                await asyncio.sleep(jitter.between(0.005, 0.02) * attempt)

        return in_transaction

    async def run_once(
        self, database: Sessions, request: Request, handler: Handler, read_only: bool
    ) -> Response:
        """One attempt at the request, in a session of its own (on the primary, or for a read
        on the replica)."""
        return await _run_once(database, request, handler, read_only)


class SnapshotRoute(TransactionalRoute):
    """GETs that stream a large answer (exports) from one consistent snapshot.

    The request's session holds one ``REPEATABLE READ READ ONLY`` transaction that outlives the
    endpoint: it lasts as long as the streamed answer, and ends (rolled back: nothing to commit;
    its connection back in the pool) once the answer is sent or abandoned — the client went
    away, the stream failed, the server is stopping. A dead pooled connection found by the
    endpoint's first statement is retried as on every route; a failure once the answer has
    started can only cut it short. Subclasses may refuse a request before it takes a connection
    (:meth:`admit`) and abandon an answer its client stopped reading (:meth:`stall_seconds`).
    """

    def admit(self, request: Request) -> Callable[[], None]:
        """Called before the request takes a connection: raise to refuse it; the callable
        returned is called once its connection is back in the pool."""
        return _nothing

    def stall_seconds(self, request: Request) -> float | None:
        """Abandon the answer when sending one chunk takes longer than this (None: never)."""
        return None

    async def run_once(
        self, database: Sessions, request: Request, handler: Handler, read_only: bool
    ) -> Response:
        leave = self.admit(request)
        try:
            session = database.snapshot_sessionmaker()
        except BaseException:
            leave()
            raise
        request.state.db_session = session
        try:
            response = await handler(request)
        except BaseException:
            await _release(session, None, leave)
            raise
        return _SessionHeldResponse(response, session, leave, self.stall_seconds(request))


class _SendStalled(Exception):
    """The client took no chunk for the stall limit: the answer is abandoned."""


class _SessionHeldResponse(Response):
    """``response`` as it is; ``session`` closed (then ``leave`` called) once it has been sent,
    or abandoned: the client went away, or took no chunk for ``stall`` seconds."""

    def __init__(
        self,
        response: Response,
        session: AsyncSession,
        leave: Callable[[], None],
        stall: float | None,
    ) -> None:
        # Not Response.__init__: nothing is rendered here, the wrapped response sends itself.
        self.response = response
        self.session = session
        self.leave = leave
        self.stall = stall
        self.status_code = response.status_code
        self.background = None
        self.raw_headers = response.raw_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.response(scope, receive, self._bounded(send))
        except _SendStalled:
            # The stream just ends (no last chunk: the client can tell it was cut short).
            _log.warning(
                "streamed answer abandoned: the client stopped reading",
                path=scope.get("path"),
                stall_seconds=self.stall,
            )
        finally:
            # Shielded: a cancelled request (a server shutting down) still gives back its
            # connection; the release goes on in its own task if this one is cancelled.
            body = getattr(self.response, "body_iterator", None)
            release = _release(self.session, body, self.leave)
            await asyncio.shield(asyncio.ensure_future(release))

    def _bounded(self, send: Send) -> Send:
        stall = self.stall
        if stall is None:
            return send

        async def bounded(message: Message) -> None:
            # The server's send waits while the client's socket is full (backpressure): a
            # client that stopped reading would hold the connection and snapshot for ever.
            try:
                async with asyncio.timeout(stall):
                    await send(message)
            except TimeoutError as error:
                raise _SendStalled from error

        return bounded


def _nothing() -> None:
    pass


async def _release(session: AsyncSession, body: object, leave: Callable[[], None]) -> None:
    # Starlette leaves an abandoned body iterator suspended (closed whenever it is collected);
    # close it first, so nothing reads from the session after it is closed.
    try:
        if isinstance(body, AsyncGenerator):
            await body.aclose()
    finally:
        try:
            await session.close()
        finally:
            leave()


class RepeatableRoute(TransactionalRoute):
    """For POSTs that are harmless to repeat (run heartbeats): ``Idempotency-Key`` is ignored,
    neither checked nor stored, so such calls cost no idempotency write."""

    honours_idempotency_key = False


class IntegrationRoute(RepeatableRoute):
    """Signed batches from neighbours: each event's id is its idempotency key (the inbox), so
    ``Idempotency-Key`` is ignored; a batch meets other writers' locks more often than a single
    change does, so it gets more attempts."""

    attempts = 3


async def _run_once(
    database: Sessions, request: Request, handler: Handler, read_only: bool
) -> Response:
    # Leaving the block on an error response or an exception closes the session, which rolls
    # back whatever the endpoint wrote.
    factory = database.read_sessionmaker if read_only else database.sessionmaker
    async with factory() as session:
        request.state.db_session = session
        response = await handler(request)
        if not read_only and response.status_code < 400 and session.in_transaction():
            try:
                await session.commit()
            except sa_exc.DBAPIError as error:
                if error.connection_invalidated:
                    raise _commit_outcome_unknown(request) from error
                raise
        return response


async def _tell_position(replica: Replica, response: Response) -> None:
    """``X-Expsvc-LSN``: the primary's WAL position now, after the commit (none if it cannot
    be read: the write stands, a read without the header is only as fresh as the bound)."""
    position = await replica.primary_position()
    if position is not None:
        response.headers[LSN_HEADER] = position


def _worth_another_attempt(error: sa_exc.DBAPIError, attempt: int, attempts: int) -> bool:
    if attempt >= attempts:
        return False
    if sqlstate(error) in _RETRYABLE_SQLSTATES:
        return True
    # A dead pooled connection (PostgreSQL restarted, a proxy dropped it) fails the first
    # statement; nothing was written and the pool has been invalidated. One retry only.
    return attempt == 1 and failed_on_first_statement(error)


def _transaction_aborted(request: Request) -> TransactionAborted:
    return TransactionAborted(
        "the change met a concurrent one and was rolled back again; nothing was applied, "
        "retry the request",
        headers=_retry_after(request),
    )


def _commit_outcome_unknown(request: Request) -> CommitOutcomeUnknown:
    return CommitOutcomeUnknown(
        "the connection to the database was lost while committing: the change may or may not "
        "have been applied; retry with the same Idempotency-Key to find out safely",
        headers=_retry_after(request),
    )


def _retry_after(request: Request) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    return {"Retry-After": str(settings.retry_after_seconds)}
