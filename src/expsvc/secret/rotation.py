"""``expsvc secrets rotate``: re-encrypt every stored secret with the first key.

One batch per transaction, rows locked while rewritten; a value already sealed with the first
key is left alone, so a second pass writes nothing (idempotent) and a pass cut short can simply
be run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from expsvc.db import Database
from expsvc.idempotency.repository import IdempotencyRepository
from expsvc.secret.box import SEALED_PREFIX, SecretBox, SecretUndecryptable

ROTATION_BATCH_SIZE = 500


@dataclass
class RotationCounts:
    reencrypted: int = 0
    current: int = 0
    undecryptable: int = 0


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
