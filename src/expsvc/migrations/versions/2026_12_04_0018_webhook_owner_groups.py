"""webhook_endpoints.owner_groups: the owner's groups, for group grants at delivery time

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-04

A webhook delivers only events of experiments its owner may read, checked at fan-out and again
before each attempt (docs/adr/0013). A principal's groups come from its credentials (the JWT's
groups claim, the groups header, an API token's groups) and are known only while it makes a
request, so a role granted to one of the owner's groups did not count for its webhooks.
``owner_groups`` keeps the groups the owner held when it last created or changed the webhook
(docs/adr/0026); grants to them count as the owner's, and so does an admin group among them.

A constant default makes ``ADD COLUMN`` a catalogue-only change (no rewrite, no scan); the brief
ACCESS EXCLUSIVE lock gives up after 5 s rather than queue every query behind a long transaction
(re-run the upgrade). The previous release, live during the rollout, neither reads nor writes
the column: the webhooks it creates get no groups, which is what it delivered by.

The downgrade drops the column: the previous release delivers by principal grants only.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute(
        "ALTER TABLE webhook_endpoints "
        "ADD COLUMN IF NOT EXISTS owner_groups text[] DEFAULT '{}' NOT NULL"
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS owner_groups")
