"""structlog configuration: JSON (or console) lines carrying the request id."""

from __future__ import annotations

import logging
import sys

import structlog

from expsvc.settings import LogFormat, Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: structlog.typing.Processor
    if settings.log_format is LogFormat.json:
        renderer = structlog.processors.JSONRenderer()
    else:
        # Plain tracebacks: rich ones with locals are slow and long (seconds on an outage).
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Route stdlib loggers (uvicorn, alembic, sqlalchemy warnings) through the same renderer.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs each request
    logging.getLogger("pgserver").setLevel(max(level, logging.WARNING))
    # Alembic's migration context logs two INFO lines on every readiness check.
    logging.getLogger("alembic.runtime.migration").setLevel(max(level, logging.WARNING))
