"""API tokens for service accounts and the CLI: 256 random bits behind a recognisable prefix,
shown once, stored as a SHA-256 hash, checked against the database on every use (so a
revocation takes effect at once: no cache outlives it). Creating and revoking one is an audit
row (entity type ``api_token``) that never holds the token, its hash or its hint."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.api_token.repository import ApiTokenRepository, lookup_token
from expsvc.api_token.schemas import (
    ApiTokenCreate,
    ApiTokenPage,
    ApiTokenQuery,
    ApiTokenRead,
    ApiTokenWithSecret,
)
from expsvc.audit.schemas import AuditedEntity
from expsvc.audit.service import AuditService
from expsvc.auth.errors import InvalidToken
from expsvc.auth.principal import is_reserved
from expsvc.changes import field_changes
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.errors import InvalidPageToken, NotFound, ValidationFailed
from expsvc.ids import new_id
from expsvc.pagination import decode_page_token, encode_page_token

API_TOKEN_PREFIX = "expsvc_"  # noqa: S105 (a prefix, not a secret)
# token_urlsafe(32): 32 random bytes, 43 base64url characters.
_API_TOKEN = re.compile(rf"^{API_TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}$")
_HINT_LENGTH = len(API_TOKEN_PREFIX) + 4
_ORDERING = "created_at:desc,id:desc"
_log = structlog.get_logger("expsvc.api_token")
# What an audit row of a token shows: the hint (the token's first characters) is left out with
# the token and its hash, last_used_at is not a change.
_AUDITED = ("name", "principal", "groups", "created_by", "created_at", "expires_at")
_REVOCATION = ("revoked_at", "revoked_by")


class ApiTokenNotFound(NotFound):
    slug, title = "api-token-not-found", "API token not found"


def is_api_token(bearer: str) -> bool:
    """The prefix tells an API token from a JWT (whose first characters are base64 of '{')."""
    return bearer.startswith(API_TOKEN_PREFIX)


def new_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class ApiTokenVerifier:
    """Who an API token acts as: (principal, groups), or :class:`InvalidToken`."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def verify(self, token: str) -> tuple[str, frozenset[str]]:
        if not _API_TOKEN.fullmatch(token):
            raise InvalidToken("the API token is malformed")
        # Its own short autocommit connection: the request's transaction (if any) has not
        # started yet, and the touch of last_used_at must not wait for, or roll back with, it.
        engine = self.database.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            row = await lookup_token(connection, token_hash(token))
        if row is None:
            raise InvalidToken("unknown API token")
        if row.revoked:
            raise InvalidToken("the API token has been revoked")
        if row.expired:
            raise InvalidToken("the API token has expired")
        return row.principal, frozenset(row.groups)


class ApiTokenService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = ApiTokenRepository(session)
        self.audit = AuditService(session)

    async def create(self, request: ApiTokenCreate, context: ActionContext) -> ApiTokenWithSecret:
        """A new token acting as ``request.principal`` (default: the actor); the only time the
        token itself is returned."""
        actor = context.actor
        principal = request.principal or actor
        if is_reserved(principal):
            raise ValidationFailed(f"{principal!r} is reserved for the service itself")
        token = new_token()
        values: dict[str, Any] = {
            "id": new_id(),
            "name": request.name,
            "token_hash": token_hash(token),
            "hint": token[:_HINT_LENGTH],
            "principal": principal,
            "groups": sorted(set(request.groups)),
            "created_by": actor,
            "expires_at": datetime.now(UTC) + timedelta(days=request.expires_in_days),
        }
        row = await self.repository.insert(values)
        _log.info("api token created", token_id=str(row.id), principal=principal, actor=actor)
        created = ApiTokenRead.model_validate(row)
        await self._record(context, "create", created, _AUDITED)
        return ApiTokenWithSecret(**created.model_dump(), token=token)

    async def list(self, query: ApiTokenQuery) -> ApiTokenPage:
        filters = {"include_revoked": query.include_revoked}
        before = None
        if query.page_token is not None:
            key = decode_page_token(query.page_token, _ORDERING, filters)
            try:
                before = (datetime.fromisoformat(key[0]), uuid.UUID(key[1]))
            except (IndexError, TypeError, ValueError):
                raise InvalidPageToken("page_token is malformed") from None
        rows = await self.repository.list(query.include_revoked, before, query.page_size + 1)
        items = [ApiTokenRead.model_validate(row) for row in rows[: query.page_size]]
        next_token = None
        if len(rows) > query.page_size:
            last = items[-1]
            key = [last.created_at.isoformat(), str(last.id)]
            next_token = encode_page_token(_ORDERING, key, filters)
        return ApiTokenPage(items=items, next_page_token=next_token)

    async def revoke(self, token_id: uuid.UUID, context: ActionContext) -> ApiTokenRead:
        """Revoke now: the next request with the token is refused. Repeating it is harmless
        and changes nothing (no audit row; the first revocation's time and actor stay)."""
        row = await self.repository.revoke(token_id, context.actor)
        if row is None:
            row = await self.repository.get(token_id)
            if row is None:
                raise ApiTokenNotFound(f"no API token {token_id}", token_id=str(token_id))
            return ApiTokenRead.model_validate(row)
        _log.info("api token revoked", token_id=str(token_id), actor=context.actor)
        revoked = ApiTokenRead.model_validate(row)
        await self._record(context, "revoke", revoked, _REVOCATION)
        return revoked

    async def _record(
        self, context: ActionContext, action: str, token: ApiTokenRead, fields: tuple[str, ...]
    ) -> None:
        """``fields`` of ``token`` as set by ``action`` (from null): never the token itself."""
        after = token.model_dump(mode="json", include=set(fields))
        changes = field_changes(None, after, fields)
        await self.audit.record(action, AuditedEntity.api_token, [(token.id, changes)], context)
