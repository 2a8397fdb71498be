"""SQL of API tokens. The lookup runs on every request that presents a token, so it is one
statement: the row, and ``last_used_at`` touched when it is more than a minute old."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from expsvc.models import api_tokens

# The touch is a data-modifying CTE of the lookup: no second round trip. Only a live token is
# touched, and at most once a minute, so a busy token costs one row update a minute; a second
# request meeting the update's row lock re-checks the condition after it and skips.
_LOOKUP = text(
    """
    WITH found AS (
        SELECT id, principal, groups, expires_at, revoked_at, last_used_at
        FROM api_tokens WHERE token_hash = :token_hash
    ), touched AS (
        UPDATE api_tokens AS t SET last_used_at = now()
        FROM found
        WHERE t.id = found.id AND found.revoked_at IS NULL AND found.expires_at > now()
          AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
    )
    SELECT id, principal, groups, revoked_at IS NOT NULL AS revoked,
           expires_at <= now() AS expired
    FROM found
    """
)


async def lookup_token(connection: AsyncConnection, token_hash: bytes) -> Row[Any] | None:
    result = await connection.execute(_LOOKUP, {"token_hash": token_hash})
    return result.first()


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, values: dict[str, Any]) -> Row[Any]:
        statement = api_tokens.insert().values(**values).returning(*_READ_COLUMNS)
        return (await self.session.execute(statement)).one()

    async def list(
        self, include_revoked: bool, before: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[Row[Any]]:
        statement = select(*_READ_COLUMNS)
        if not include_revoked:
            statement = statement.where(api_tokens.c.revoked_at.is_(None))
        if before is not None:
            key = api_tokens.c.created_at, api_tokens.c.id
            statement = statement.where(
                (key[0] < before[0]) | ((key[0] == before[0]) & (key[1] < before[1]))
            )
        order = (api_tokens.c.created_at.desc(), api_tokens.c.id.desc())
        return (await self.session.execute(statement.order_by(*order).limit(limit))).all()

    async def get(self, token_id: uuid.UUID) -> Row[Any] | None:
        statement = select(*_READ_COLUMNS).where(api_tokens.c.id == token_id)
        return (await self.session.execute(statement)).first()

    async def revoke(self, token_id: uuid.UUID, actor: str) -> Row[Any] | None:
        """Revoke the token if it is live; None if there is no such token or it was revoked
        already (a concurrent revocation waits for this one's row lock, then finds it revoked:
        the first revocation's time and actor are kept)."""
        statement = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoked_by=actor)
            .returning(*_READ_COLUMNS)
        )
        return (await self.session.execute(statement)).first()


_READ_COLUMNS = tuple(
    api_tokens.c[name]
    for name in (
        "id",
        "name",
        "hint",
        "principal",
        "groups",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
)
