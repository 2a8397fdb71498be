from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import (
    CursorResult,
    Float,
    LargeBinary,
    Row,
    Select,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.change_log import PendingChanges, followed_by
from expsvc.driver import fetch_rows
from expsvc.models import idempotency_keys as _table

# A fixed 64-bit advisory lock id for the singleton purge job (derived, not hand-picked, so it
# does not collide with other features' small constants).
PURGE_LOCK_ID = int.from_bytes(
    hashlib.sha256(b"expsvc.idempotency.purge").digest()[:8], "big", signed=True
)


# Statements built once: the request path only binds values.
_CLAIM = text(
    """
    WITH key_lock AS (
        SELECT pg_try_advisory_xact_lock(hashtextextended(:lock_name, 0)) AS locked
    ), claimed AS (
        INSERT INTO idempotency_keys AS record (principal, key, method, path, fingerprint,
            response_status, response_headers, response_body, created_at, expires_at)
        SELECT :principal, :key, :method, :path, :fingerprint, 0, '{}'::jsonb, ''::bytea,
            now(), now() + make_interval(secs => :ttl_seconds)
        FROM key_lock WHERE key_lock.locked
        ON CONFLICT (principal, key) DO UPDATE SET
            method = excluded.method, path = excluded.path,
            fingerprint = excluded.fingerprint, response_status = 0,
            response_headers = '{}'::jsonb, response_body = ''::bytea,
            created_at = excluded.created_at, expires_at = excluded.expires_at
        WHERE record.expires_at <= now()
        RETURNING 1
    )
    SELECT key_lock.locked, EXISTS (SELECT FROM claimed) AS claimed FROM key_lock
    """
).bindparams(bindparam("ttl_seconds", type_=Float()))
_GET_LIVE = select(_table).where(
    _table.c.principal == bindparam("principal"),
    _table.c.key == bindparam("key"),
    _table.c.expires_at > func.now(),
)
_STORE_RESPONSE_SQL = """
    UPDATE idempotency_keys
    SET response_status = :status, response_headers = CAST(:headers AS jsonb),
        response_body = :body
    WHERE principal = :principal AND key = :key
"""
_STORE_RESPONSE = text(_STORE_RESPONSE_SQL).bindparams(bindparam("body", type_=LargeBinary()))
# The request's change log and its stored response: the transaction's last statement.
_STORE_RESPONSE_WITH_CHANGES = text(followed_by(_STORE_RESPONSE_SQL)).bindparams(
    bindparam("body", type_=LargeBinary())
)


_REPLACE_BODY = text(
    "UPDATE idempotency_keys SET response_body = :body WHERE principal = :principal AND key = :key"
).bindparams(bindparam("body", type_=LargeBinary()))


def _key_lock_name(principal: str, key: str) -> str:
    # PostgreSQL text cannot hold NUL, so the pair is made unambiguous by a length prefix.
    return f"{len(principal)}:{principal}{key}"


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, principal: str, key: str, method: str, path: str, fingerprint: str, ttl: timedelta
    ) -> tuple[bool, bool]:
        """Lock the key for this transaction and claim it; (locked, claimed), one round trip.

        Not locked: another transaction holds the key. Locked but not claimed: a live record
        of the key exists (read it with :meth:`get_live`). Claimed: a placeholder record, or an
        expired record taken over, that :meth:`store_response` completes before the commit.
        ``ON CONFLICT`` sees a record committed after this statement's snapshot was taken, so a
        request that held the lock until just now is never run twice.
        """
        (row,) = await fetch_rows(
            self.session,
            _CLAIM,
            {
                "lock_name": _key_lock_name(principal, key),
                "principal": principal,
                "key": key,
                "method": method,
                "path": path,
                "fingerprint": fingerprint,
                "ttl_seconds": ttl.total_seconds(),
            },
        )
        return bool(row.locked), bool(row.claimed)

    async def get_live(self, principal: str, key: str) -> Row[Any] | None:
        row: Row[Any] | None = (
            await self.session.execute(_GET_LIVE, {"principal": principal, "key": key})
        ).one_or_none()
        return row

    async def store_response(
        self,
        principal: str,
        key: str,
        status: int,
        headers: dict[str, str],
        body: bytes,
        changes: PendingChanges,
    ) -> None:
        """Complete the record this transaction claimed with the response to replay, writing
        the request's pending ``changes`` in the same statement."""
        parameters = {
            "principal": principal,
            "key": key,
            "status": status,
            "headers": orjson.dumps(headers).decode(),
            "body": body,
        }
        if changes:
            await fetch_rows(
                self.session, _STORE_RESPONSE_WITH_CHANGES, parameters | changes.parameters()
            )
        else:
            await fetch_rows(self.session, _STORE_RESPONSE, parameters)

    async def sealed_page(
        self, prefix: bytes, after: tuple[str, str] | None, limit: int
    ) -> Sequence[Row[Any]]:
        """Live records whose stored body starts with ``prefix`` (sealed), locked, in key order
        after ``after``: one batch of a key rotation."""
        sealed = func.substring(_table.c.response_body, 1, len(prefix)) == literal(
            prefix, LargeBinary()
        )
        query: Select[Any] = (
            select(_table.c.principal, _table.c.key, _table.c.response_body)
            .where(sealed, _table.c.expires_at > func.now())
            .order_by(_table.c.principal, _table.c.key)
            .limit(limit)
            .with_for_update()
        )
        if after is not None:
            query = query.where(tuple_(_table.c.principal, _table.c.key) > after)
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def replace_bodies(self, bodies: Sequence[dict[str, Any]]) -> None:
        """Set ``response_body`` of each ``{principal, key, body}`` (one executemany)."""
        if bodies:
            await self.session.execute(_REPLACE_BODY, list(bodies))

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
