"""experiment grants: owner, editor and viewer roles per experiment; creators own theirs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

Safe with the previous release live: a new table, and its indexes built while it is empty. The
backfill makes each experiment's creator its owner (``created_by`` is who created it; with no
identity configured that was ``anonymous``). An experiment the previous release creates after
this migration has no grant until ``expsvc grants backfill`` (idempotent; run it once the
rollout is done) or an admin grants one: until then only admins see it, never anyone else.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same statement as expsvc.grant.repository.BACKFILL_OWNERS (a migration must not import
# the application: it has to mean the same thing whatever the code becomes).
_BACKFILL_OWNERS = """
    INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by, granted_at)
    SELECT e.id, 'principal:' || e.created_by, 'owner', e.created_by, e.created_at
    FROM experiments AS e
    WHERE NOT EXISTS (SELECT 1 FROM experiment_grants AS g WHERE g.experiment_id = e.id)
    ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE IF NOT EXISTS experiment_grants (
            experiment_id uuid NOT NULL
                CONSTRAINT fk_experiment_grants_experiment_id_experiments
                REFERENCES experiments (id) ON DELETE CASCADE,
            grantee varchar(300) NOT NULL,
            role varchar(16) NOT NULL,
            granted_by varchar(256) NOT NULL,
            granted_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_experiment_grants PRIMARY KEY (experiment_id, grantee),
            CONSTRAINT ck_experiment_grants_role CHECK (role IN ('owner', 'editor', 'viewer')),
            CONSTRAINT ck_experiment_grants_grantee
                CHECK (grantee LIKE 'principal:%' OR grantee LIKE 'group:%')
        )
        """
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_experiment_grants_grantee "
        "ON experiment_grants (grantee, experiment_id)"
    )
    op.execute(_BACKFILL_OWNERS)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS experiment_grants")
