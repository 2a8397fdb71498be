"""outbox: no NOTIFY from every commit with events (the leading relay polls instead)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

A transaction that NOTIFYs takes PostgreSQL's one notification-queue lock before it commits and
holds it until its commit record is on disk, so every write's commit (each inserts an event, so
each fired ``outbox_events_notify``) waited for the previous one's WAL flush: commits ran one at
a time, and a slow flush (a checkpoint) stalled every writer for its whole length. The leading
relay now polls for unsequenced events instead (``expsvc.event.relay``).

Safe with the previous release live: its relays lose their wake-up and fall back to their
5-second timer, so events are published late, never lost, until the new release leads. Dropping
a trigger changes no data; the brief ACCESS EXCLUSIVE lock gives up after 5 s rather than queue
every write behind a long transaction (re-run the upgrade).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
    op.execute("DROP FUNCTION IF EXISTS expsvc_outbox_notify()")


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION expsvc_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('expsvc_outbox', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events")
    op.execute(
        "CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION expsvc_outbox_notify()"
    )
