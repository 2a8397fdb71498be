"""Start-up check: can the service's own database role rewrite the audit log? (docs/adr/0019)

The database guarantees the audit log is append-only only against a role that neither owns
``audit_log`` nor is a superuser nor holds UPDATE, DELETE or TRUNCATE on it. One URL for
everything (no ``EXPSVC_MIGRATION_DATABASE_URL``, the service's role owns the tables) still
works, with that weaker guarantee: ``serve``, ``worker`` and ``db upgrade`` say so, once.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.exc import SQLAlchemyError

from expsvc.audit.repository import RewritePowers, rewrite_powers
from expsvc.db import create_engine
from expsvc.settings import Settings

_log = structlog.get_logger("expsvc.audit")


def rewrite_warning(powers: RewritePowers) -> str | None:
    """The start-up warning for these powers, None when the role may only append."""
    if not powers.any:
        return None
    what = [
        reason
        for reason, holds in (
            ("is a superuser", powers.superuser),
            ("owns audit_log (it could disable its triggers)", powers.owner),
            ("holds UPDATE, DELETE or TRUNCATE on audit_log", powers.privileged),
        )
        if holds
    ]
    return (
        f"the service's database role {powers.role} {' and '.join(what)}: the audit log is "
        "append-only only as long as nobody with this role's credentials disables that; run "
        "the service as a runtime role and the migrations as the owner "
        "(EXPSVC_MIGRATION_DATABASE_URL, docs/security.md#database-roles)"
    )


async def _read(settings: Settings, url: str) -> RewritePowers | None:
    engine = create_engine(settings, url)
    try:
        async with engine.connect() as connection:
            return await rewrite_powers(connection)
    finally:
        await engine.dispose()


def audit_rewrite_warning(settings: Settings, url: str) -> str | None:
    """The warning for the role of ``url``, None if it may only append or cannot be asked
    (blocking)."""
    try:
        powers = asyncio.run(_read(settings, url))
    except (OSError, SQLAlchemyError) as error:
        # Not this check's business: readiness reports an unreachable database.
        _log.info("audit log protection not checked", error=str(error))
        return None
    return None if powers is None else rewrite_warning(powers)


def warn_if_audit_rewritable(settings: Settings, url: str) -> None:
    """Log the warning if the role of ``url`` could rewrite the audit log (blocking)."""
    warning = audit_rewrite_warning(settings, url)
    if warning is not None:
        _log.warning(warning)
