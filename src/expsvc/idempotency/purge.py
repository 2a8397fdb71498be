"""Purging expired idempotency keys: one pass (CLI) and the periodic in-process task."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.db import Database
from expsvc.idempotency.repository import IdempotencyRepository

PURGE_BATCH_SIZE = 1000
_log = structlog.get_logger("expsvc.idempotency")


async def purge_expired_keys(database: Database, batch_size: int = PURGE_BATCH_SIZE) -> int | None:
    """Delete every expired key, one batch per transaction; None if another process is purging.

    The session-level advisory lock lives on one connection, so the whole pass runs on it.
    """
    async with database.engine.connect() as connection, AsyncSession(bind=connection) as session:
        repository = IdempotencyRepository(session)
        if not await repository.try_lock_purge():
            await session.rollback()
            return None
        try:
            await session.commit()
            purged = 0
            while True:
                deleted = await repository.purge_expired(batch_size)
                await session.commit()
                purged += deleted
                if deleted < batch_size:
                    return purged
        finally:
            await session.rollback()
            await repository.unlock_purge()
            await session.commit()


async def _purge_periodically(database: Database, interval: float) -> None:
    while True:
        # Jitter keeps the processes of one deployment from waking together.
        await asyncio.sleep(interval * random.uniform(0.9, 1.1))
        try:
            purged = await purge_expired_keys(database)
        except Exception:
            _log.exception("purging expired idempotency keys failed")
            continue
        if purged:
            _log.info("purged expired idempotency keys", count=purged)


@asynccontextmanager
async def periodic_purge(database: Database, interval: float) -> AsyncIterator[None]:
    """Purge expired keys every ``interval`` seconds while the block runs (0: never)."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_purge_periodically(database, interval), name="idempotency-purge")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
