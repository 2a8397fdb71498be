"""``expsvc secrets rotate``: re-encrypt every stored secret with the first key.

Two passes: webhook signing secrets (``webhook_endpoints``; a secret still in clear is encrypted)
and the sealed Idempotency-Key answers that show one. One batch per transaction, rows locked
while rewritten; a value already sealed with the first key is left alone, so a second pass
writes nothing (idempotent) and a pass cut short can simply be run again.

Each webhook whose secrets are rewritten gets one audit row (action ``reencrypt_secret``, actor
``system:cli``, empty changes: Fernet keys have no id to show, and nothing else about a secret
may be written), in the batch's transaction; the rows of one run share a ``batch_id``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row

from expsvc.audit.schemas import AuditedEntity
from expsvc.audit.service import AuditService, Changes
from expsvc.auth.principal import CLI_OPERATOR
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.idempotency.repository import IdempotencyRepository
from expsvc.ids import new_id
from expsvc.secret.box import SEALED_PREFIX, SecretBox, SecretUndecryptable
from expsvc.webhook.repository import WebhookRepository

ROTATION_BATCH_SIZE = 500


@dataclass
class RotationCounts:
    reencrypted: int = 0
    current: int = 0
    undecryptable: int = 0
    encrypted: int = 0
    """Values found in clear and encrypted (webhook secrets stored before encryption)."""


async def rotate_stored_responses(
    database: Database, box: SecretBox, batch_size: int = ROTATION_BATCH_SIZE
) -> RotationCounts:
    """Sealed Idempotency-Key responses (webhook secrets shown once) that replays still need."""
    counts = RotationCounts()
    after: tuple[str, str] | None = None
    while True:
        async with database.sessionmaker() as session, session.begin():
            repository = IdempotencyRepository(session)
            rows = await repository.sealed_page(SEALED_PREFIX, after, batch_size)
            changed = []
            for row in rows:
                try:
                    body = box.reseal(row.response_body)
                except SecretUndecryptable:
                    counts.undecryptable += 1
                    continue
                if body is None:
                    counts.current += 1
                else:
                    changed.append({"principal": row.principal, "key": row.key, "body": body})
            await repository.replace_bodies(changed)
            counts.reencrypted += len(changed)
        if len(rows) < batch_size:
            return counts
        after = (rows[-1].principal, rows[-1].key)


async def rotate_webhook_secrets(
    database: Database, box: SecretBox, batch_size: int = ROTATION_BATCH_SIZE
) -> RotationCounts:
    """Webhook signing secrets (current and previous): clear ones encrypted, ones under an old
    key re-encrypted. A row with a value no key opens keeps that value as it is."""
    counts = RotationCounts()
    # An operator's direct action, as ``expsvc token``: one batch id ties the run's rows.
    context = ActionContext(principal=CLI_OPERATOR, request_id=None).in_batch(new_id())
    after: uuid.UUID | None = None
    while True:
        async with database.sessionmaker() as session, session.begin():
            repository = WebhookRepository(session)
            rows = await repository.secrets_page(after, batch_size)
            changed = [
                values for row in rows if (values := _resealed_row(box, row, counts)) is not None
            ]
            await repository.replace_secrets(changed)
            audited: list[tuple[uuid.UUID, Changes]] = [(values["id"], {}) for values in changed]
            await AuditService(session).record(
                "reencrypt_secret", AuditedEntity.webhook, audited, context
            )
        if len(rows) < batch_size:
            return counts
        after = rows[-1].id


def _resealed_row(box: SecretBox, row: Row[Any], counts: RotationCounts) -> dict[str, Any] | None:
    """The endpoint's new secrets, or None when neither changes; counts each value."""
    secret = _resealed(box, row.secret, counts)
    previous = _resealed(box, row.previous_secret, counts)
    if secret is None and previous is None:
        return None
    return {
        "id": row.id,
        "secret": secret or row.secret,
        "previous_secret": previous or row.previous_secret,
    }


def _resealed(box: SecretBox, stored: str | None, counts: RotationCounts) -> str | None:
    """``stored`` sealed with the first key, or None when it stays as it is."""
    if stored is None:
        return None
    try:
        sealed = box.reseal(stored.encode())
    except SecretUndecryptable:
        counts.undecryptable += 1
        return None
    if sealed is None:
        counts.current += 1
        return None
    if box.is_sealed(stored.encode()):
        counts.reencrypted += 1
    else:
        counts.encrypted += 1
    return sealed.decode("ascii")
