"""SQL of API tokens. The lookup runs on every request that presents a token, so it is one
statement: the row, and ``last_used_at`` touched when it is more than a minute old."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text, update
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

    async def revoke(self, token_id: uuid.UUID, actor: str) -> Row[Any] | None:
        """Revoke (the first revocation's time and actor are kept); None if no such token."""
        statement = (
            update(api_tokens)
            .where(api_tokens.c.id == token_id)
            .values(
                revoked_at=text("coalesce(revoked_at, now())"),
                revoked_by=text("coalesce(revoked_by, :actor)").bindparams(actor=actor),
            )
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
