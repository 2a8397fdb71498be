"""The FastAPI application: wiring only."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from prometheus_client import CollectorRegistry
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from expsvc import __version__
from expsvc.api_token.endpoints import router as api_token_router
from expsvc.artifact.endpoints import events_router as artifact_events_router
from expsvc.artifact.endpoints import run_artifacts_router
from expsvc.audit.endpoints import router as audit_router
from expsvc.auth.authenticator import Authenticator
from expsvc.auth.endpoints import router as identity_router
from expsvc.capture.endpoints import router as capture_router
from expsvc.capture.endpoints import run_captures_router
from expsvc.card.endpoints import router as card_router
from expsvc.card.metrics_client import MetricsServiceClient
from expsvc.db import Database, create_engine
from expsvc.deprecation import install_deprecations
from expsvc.docs_ui import install_docs_ui
from expsvc.error_handlers import install_problem_handlers
from expsvc.event.endpoints import router as event_router
from expsvc.event.feed import FeedNotifier
from expsvc.event.versions import EVENT_VERSIONS
from expsvc.experiment.endpoints import router as experiment_router
from expsvc.export.capacity import ExportSlots
from expsvc.export.endpoints import router as export_router
from expsvc.grant.endpoints import router as grant_router
from expsvc.health.endpoints import router as health_router
from expsvc.liveness.endpoints import router as liveness_router
from expsvc.method_guard import guard_fixed_paths
from expsvc.observability.logging import configure_logging
from expsvc.observability.metrics import HttpMetrics
from expsvc.observability.middleware import RequestMiddleware
from expsvc.observability.tracing import asgi_middleware, configure_tracing
from expsvc.observability.tracing import shutdown as tracing_shutdown
from expsvc.openapi import install_openapi
from expsvc.release.schema import SchemaExpectation
from expsvc.replica import Replica
from expsvc.run.endpoints import experiment_runs_router
from expsvc.run.endpoints import router as run_router
from expsvc.secret.keys import load_secret_box
from expsvc.settings import AuthMode, Settings
from expsvc.telemetry.endpoints import router as telemetry_router
from expsvc.telemetry.reconciliation_endpoints import router as reconciliation_router
from expsvc.webhook.endpoints import router as webhook_router
from expsvc.worker.jobs import build_runner

_log = structlog.get_logger("expsvc.app")
API_TITLE = "Experiment Service"
API_DESCRIPTION = (
    "The single source of truth for Experiments, Runs and CaptureSessions. "
    "Errors are RFC 9457 application/problem+json."
)


class ServiceApp(FastAPI):
    """FastAPI with a shorter middleware stack: the app's own middleware (one layer,
    :class:`RequestMiddleware`), Starlette's ``ExceptionMiddleware`` (it hands the problem
    handlers to the routes) and FastAPI's ``AsyncExitStackMiddleware`` (closes uploaded files).

    Left out of FastAPI's stack, as redundant here: ``ServerErrorMiddleware`` (RequestMiddleware
    answers every exception raised before the response starts, and uvicorn anything else),
    ``ExceptionTelemetryMiddleware`` (FastAPI's native OpenTelemetry, when enabled, sees every
    exception that gets past RequestMiddleware in its own wrapper) and ``AppBodyLimitMiddleware``
    (a pass-through without an app-wide ``max_body_size``; the body limit is RequestMiddleware's).
    """

    def build_middleware_stack(self) -> ASGIApp:
        if self.max_body_size is not None:
            raise RuntimeError("use EXPSVC_MAX_BODY_BYTES (RequestMiddleware), not max_body_size")
        if {500, Exception} & self.exception_handlers.keys():
            raise RuntimeError("RequestMiddleware's on_error answers unclaimed exceptions")
        app: ASGIApp = AsyncExitStackMiddleware(self.router)
        app = ExceptionMiddleware(app, handlers=self.exception_handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings, database_url: str | None = None) -> FastAPI:
    """Build the app. ``database_url`` overrides settings (the embedded server's URL)."""
    url = database_url or settings.database_url
    if url is None:
        raise ValueError("no database URL: start the embedded server first (expsvc serve)")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auth_mode is AuthMode.none:
            _log.warning(
                "identity is off (EXPSVC_AUTH_MODE=none): loopback callers act as the local "
                "admin; set EXPSVC_AUTH_MODE=jwt or header to identify callers"
            )
        try:
            async with app.state.worker:
                yield
        finally:
            await app.state.authenticator.close()
            if app.state.metrics_service is not None:
                await app.state.metrics_service.close()
            app.state.feed_notifier.close()
            await app.state.database.dispose()
            tracing_shutdown()

    app = ServiceApp(
        title=API_TITLE,
        description=API_DESCRIPTION,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served by install_docs_ui, without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    configure_tracing(settings.tracing_enabled)
    # First: without usable keys the service refuses to start (docs/adr/0011).
    app.state.secret_box = load_secret_box(settings)
    engine = create_engine(settings, url)
    app.state.database = Database(engine, Replica.from_settings(settings, engine))
    app.state.export_slots = ExportSlots(settings.export_max_concurrent)
    app.state.authenticator = Authenticator(settings, app.state.database)
    app.state.schema = SchemaExpectation.of_this_code()
    app.state.metrics = HttpMetrics(CollectorRegistry(auto_describe=True))
    app.state.database.observe(app.state.metrics.registry)
    app.state.feed_notifier = FeedNotifier(app.state.database)
    # The event data versions the feed renders; the relay's come from build_relay.
    app.state.event_versions = EVENT_VERSIONS
    # The in-process worker: every registered job (the relay only with EXPSVC_RELAY_ENABLED).
    app.state.worker = build_runner(
        settings, app.state.database, app.state.metrics.registry, in_app=True
    )
    app.state.metrics_service = MetricsServiceClient.from_settings(
        settings, app.state.metrics.registry
    )

    on_unexpected = install_problem_handlers(app, settings.retry_after_seconds)
    install_openapi(app)
    # In this order: a fixed path before the parameterised one it would match.
    routers = [
        health_router,
        identity_router,
        api_token_router,
        export_router,  # before /v1/runs/{run_id}, /v1/experiments/{id}
        experiment_router,
        grant_router,
        experiment_runs_router,
        run_router,
        liveness_router,
        card_router,
        run_captures_router,
        reconciliation_router,  # before /v1/captures/{capture_id}
        capture_router,
        event_router,
        webhook_router,
        audit_router,
        telemetry_router,
        artifact_events_router,
        run_artifacts_router,
    ]
    for router in routers:
        _add_routes(app, router)
    install_deprecations(app)
    install_docs_ui(app)
    guard_fixed_paths(app, routers)

    app.add_middleware(
        RequestMiddleware,
        metrics=app.state.metrics,
        timeout=settings.request_timeout,
        retry_after=settings.retry_after_seconds,
        max_body_bytes=settings.max_body_bytes,
        on_error=on_unexpected,
    )
    tracing = asgi_middleware()
    if tracing is not None:  # outermost: the request's span covers everything of it
        middleware, options = tracing
        app.add_middleware(middleware, **options)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes, as they are, on the app's own router.

    Not ``include_router``: FastAPI 0.16x keeps an included router as one entry that matches a
    request against its routes twice (to pick the router, then the route), through per-request
    scope bookkeeping: about a tenth of a ``GET /v1/runs/{id}``'s CPU. Our routers carry no
    include-time options (prefix, tags and route class are set where they are declared), so
    their routes are the same on the app's router, matched once, in the same order. The one
    thing an included router adds that this does not is ``app.dependency_overrides``, which
    the service does not use (tests inject through ``app.state``).
    """
    app.router.routes.extend(router.routes)


def create_app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes: settings and database URL from the environment."""
    settings = Settings()
    configure_logging(settings)
    app = create_app(settings)
    # What importing and building the app made (about 115,000 objects) lives as long as the
    # process: leave it out of the cyclic collector's full collections, which otherwise walk
    # it all again each time (a worker stalls for as long as a collection takes). Garbage made
    # so far is collected first.
    gc.collect()
    gc.freeze()
    return app
