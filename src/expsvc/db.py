"""Engine, sessions and the one-transaction-per-request rule.

:class:`TransactionalRoute` opens the request's session, runs the endpoint (through the
idempotency check on POST), and commits after the endpoint returns and *before* the response is
sent, so a failed commit becomes an error response and is never reported as success. Services
only flush; :func:`get_session` hands endpoints the route's session.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from starlette.responses import Response

from expsvc.idempotency.route import declare_idempotency, respond_idempotently
from expsvc.settings import Settings

# OpenAPI extension on operations that ignore Idempotency-Key (see RepeatableRoute).
IGNORED_KEY_EXTENSION = "x-idempotency-key"


def async_database_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the asyncpg dialect SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ValueError(f"only PostgreSQL is supported, got {parsed.drivername!r}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def plain_database_url(url: str | URL) -> str:
    """The URL as a plain ``postgresql://`` DSN, for asyncpg connections of our own."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    server_settings = {"application_name": "expsvc"}
    if settings.db_statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.db_statement_timeout_ms)
    return create_async_engine(
        async_database_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # A restarted PostgreSQL leaves dead connections in the pool; pre-ping replaces them so
        # the service recovers by itself instead of failing the next request on each of them.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"timeout": settings.db_connect_timeout, "server_settings": server_settings},
    )


class Database:
    """The engine and session factory of one running app."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncSession:
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        raise RuntimeError("no database session: the route must use TransactionalRoute")
    return session


DbSession = Annotated[AsyncSession, Depends(get_session)]


class TransactionalRoute(APIRoute):
    """One transaction per request: opened before the endpoint, committed before the response.

    POST routes also honour ``Idempotency-Key`` (see :mod:`expsvc.idempotency`), unless the
    route class sets ``honours_idempotency_key`` to False.
    """

    honours_idempotency_key: ClassVar[bool] = True

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

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def in_transaction(request: Request) -> Response:
            database: Database = request.app.state.database
            # Leaving the block on an error response or an exception closes the session, which
            # rolls back whatever the endpoint wrote.
            async with database.sessionmaker() as session:
                request.state.db_session = session
                if self.honours_idempotency_key:
                    response = await respond_idempotently(request, session, handler)
                else:
                    response = await handler(request)
                if response.status_code < 400 and session.in_transaction():
                    await session.commit()
                return response

        return in_transaction


class RepeatableRoute(TransactionalRoute):
    """For POSTs that are harmless to repeat (run heartbeats): ``Idempotency-Key`` is ignored,
    neither checked nor stored, so such calls cost no idempotency write."""

    honours_idempotency_key = False
