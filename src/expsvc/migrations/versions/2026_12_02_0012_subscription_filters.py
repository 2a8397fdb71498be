"""subscriptions: webhook experiment filters; the event feed's type index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

``webhook_endpoints.experiment_ids`` (uuid[], empty: every experiment) narrows a webhook to the
events of some experiments. A constant default makes ``ADD COLUMN`` a catalogue-only change (no
rewrite, no scan); the brief ACCESS EXCLUSIVE lock gives up after 5 s rather than queue every
query behind a long transaction (re-run the upgrade). The previous release, live during the
rollout, neither reads nor writes the column: its webhooks get the empty default (no filter).

``ix_outbox_events_type_seq (type, seq) WHERE seq IS NOT NULL`` serves the feed's type filter:
the next events of each wanted type after a cursor are an index range, where the feed read the
log by ``seq`` and dropped the other types (a rare type scanned the whole log: 100 ms over
500,000 events, growing with it). Built ``CONCURRENTLY`` outside the transaction, so writes to
the outbox go on meanwhile; a build left INVALID by an interruption is dropped and redone by a
re-run.

The downgrade refuses while a webhook holds an experiment filter: the previous release would
deliver it every experiment's events.

Offline (``--sql``) there is no database to ask: the script builds the index ``IF NOT EXISTS``
(after an interrupted build, drop the INVALID index by hand before re-running it), and its
downgrade drops the column without counting the filters (check them before running it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from alembic.util import CommandError

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_outbox_events_type_seq"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # IF NOT EXISTS: a re-run after a failed index build (below) finds the column there.
    op.execute(
        "ALTER TABLE webhook_endpoints "
        "ADD COLUMN IF NOT EXISTS experiment_ids uuid[] DEFAULT '{}' NOT NULL"
    )
    if context.is_offline_mode():
        with op.get_context().autocommit_block():
            _create_index(if_not_exists=True)
        return
    with op.get_context().autocommit_block():
        valid = op.get_bind().scalar(
            sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": _INDEX},
        )
        if valid is False:  # left INVALID by an interrupted concurrent build
            op.drop_index(_INDEX, table_name="outbox_events", postgresql_concurrently=True)
        if not valid:
            _create_index(if_not_exists=False)


def _create_index(*, if_not_exists: bool) -> None:
    op.create_index(
        _INDEX,
        "outbox_events",
        ["type", "seq"],
        postgresql_where=sa.text("seq IS NOT NULL"),
        postgresql_concurrently=True,
        if_not_exists=if_not_exists,
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # Locked before counting, so no filter the count missed can be written before the DROP.
    op.execute("LOCK TABLE webhook_endpoints IN ACCESS EXCLUSIVE MODE")
    if context.is_offline_mode():
        op.execute("ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS experiment_ids")
    else:
        _drop_column_unless_filtered()
    with op.get_context().autocommit_block():
        op.drop_index(
            _INDEX, table_name="outbox_events", postgresql_concurrently=True, if_exists=True
        )


def _drop_column_unless_filtered() -> None:
    bind = op.get_bind()
    # A re-run after a failed index drop (outside the transaction) finds no column.
    if "experiment_ids" in {c["name"] for c in sa.inspect(bind).get_columns("webhook_endpoints")}:
        filtered = bind.scalar(
            sa.text("SELECT count(*) FROM webhook_endpoints WHERE experiment_ids <> '{}'")
        )
        if filtered:
            raise CommandError(
                f"cannot downgrade below 0012: {filtered} webhooks deliver only some "
                "experiments' events, and the previous release would send them every "
                "experiment's; clear their filters (PATCH experiment_ids: []) or delete them "
                "first, or stay at 0012"
            )
        op.execute("ALTER TABLE webhook_endpoints DROP COLUMN experiment_ids")
