"""webhook_endpoints: secret and previous_secret widened to varchar(256) for encrypted secrets

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A ``whsec_…`` secret sealed for storage (``enc:v1:`` + a Fernet token, docs/adr/0011) is 171
characters; the columns held 128. Raising a varchar limit is a catalogue-only change in
PostgreSQL: no table rewrite, no index rebuild, only a brief ACCESS EXCLUSIVE lock, which gives
up after 5 s rather than queue every write behind a long transaction (re-run the upgrade).

Safe with the previous release live: it keeps writing plain ``whsec_…`` secrets (they fit either
way), which this release reads as legacy values and ``expsvc secrets rotate`` encrypts.

The downgrade narrows the columns back only if every value fits: encrypted secrets do not, and
the previous release could not read them anyway, so it refuses and says why.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NARROW = 128
_WIDE = 256


def _retype(length: int) -> None:
    op.execute(
        f"ALTER TABLE webhook_endpoints ALTER COLUMN secret TYPE varchar({length}), "
        f"ALTER COLUMN previous_secret TYPE varchar({length})"
    )


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    _retype(_WIDE)


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # Locked before counting, so no row the count missed can be written before the ALTER.
    op.execute("LOCK TABLE webhook_endpoints IN ACCESS EXCLUSIVE MODE")
    too_long = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT count(*) FROM webhook_endpoints "
                "WHERE length(secret) > :limit OR length(previous_secret) > :limit"
            ),
            {"limit": _NARROW},
        )
        .scalar_one()
    )
    if too_long:
        raise CommandError(
            f"cannot downgrade below 0011: {too_long} webhook endpoints hold a secret longer than "
            f"{_NARROW} characters (encrypted at rest, which the previous release cannot read "
            "either); delete those webhooks first (and re-create them after the downgrade, "
            "giving their receivers the new secrets), or stay at 0011"
        )
    _retype(_NARROW)
