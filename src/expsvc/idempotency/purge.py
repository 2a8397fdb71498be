"""Purging expired idempotency keys: one pass, run by the CLI and by the worker's
``idempotency-purge`` job (:mod:`expsvc.worker.jobs`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.db import Database
from expsvc.idempotency.repository import IdempotencyRepository

PURGE_BATCH_SIZE = 1000


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
