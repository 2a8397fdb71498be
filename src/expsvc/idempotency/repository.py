from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, Row, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.models import idempotency_keys as _table

# A fixed 64-bit advisory lock id for the singleton purge job (derived, not hand-picked, so it
# does not collide with other features' small constants).
PURGE_LOCK_ID = int.from_bytes(
    hashlib.sha256(b"expsvc.idempotency.purge").digest()[:8], "big", signed=True
)


def _key_lock_name(principal: str, key: str) -> str:
    # PostgreSQL text cannot hold NUL, so the pair is made unambiguous by a length prefix.
    return f"{len(principal)}:{principal}{key}"


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def try_lock_key(self, principal: str, key: str) -> bool:
        """Take the key's transaction-scoped advisory lock; False if another request holds it."""
        lock_id = func.hashtextextended(_key_lock_name(principal, key), 0)
        result = await self.session.execute(select(func.pg_try_advisory_xact_lock(lock_id)))
        return bool(result.scalar_one())

    async def get_live(self, principal: str, key: str) -> Row[Any] | None:
        query = select(_table).where(
            _table.c.principal == principal,
            _table.c.key == key,
            _table.c.expires_at > func.now(),
        )
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def save(self, values: dict[str, Any], ttl: timedelta) -> None:
        """Insert the key's record; an expired record of the same key is replaced."""
        values = {**values, "expires_at": func.now() + ttl, "created_at": func.now()}
        statement = insert(_table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[_table.c.principal, _table.c.key],
            set_={name: statement.excluded[name] for name in values},
        )
        await self.session.execute(statement)

    async def purge_expired(self, batch_size: int) -> int:
        """Delete up to ``batch_size`` expired records; returns how many were deleted."""
        expired = (
            select(_table.c.principal, _table.c.key)
            .where(_table.c.expires_at <= func.now())
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        statement = delete(_table).where(tuple_(_table.c.principal, _table.c.key).in_(expired))
        result: CursorResult[Any] = await self.session.execute(statement)  # type: ignore[assignment]
        return result.rowcount

    async def try_lock_purge(self) -> bool:
        """Take the session-level purge lock (held across the job's batch transactions)."""
        result = await self.session.execute(select(func.pg_try_advisory_lock(PURGE_LOCK_ID)))
        return bool(result.scalar_one())

    async def unlock_purge(self) -> None:
        await self.session.execute(select(func.pg_advisory_unlock(PURGE_LOCK_ID)))
