"""audit_log's triggers ENABLE ALWAYS; the runtime role's privileges, none to rewrite audit_log

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

The service runs as a runtime role that owns nothing; the tables belong to the role that runs
the migrations (docs/adr/0019). This grants the runtime role (``EXPSVC_DATABASE_RUNTIME_ROLE``,
given by ``expsvc.migrate.upgrade``) what the service does with each table — SELECT, INSERT,
UPDATE, DELETE — except on ``audit_log`` (SELECT, INSERT: it appends and reads, never rewrites)
and on the migrations' own bookkeeping (``alembic_version``, ``schema_releases``: SELECT, read by
readiness). Default privileges give the same to every table the migrating role creates later.

The triggers of 0004 become ``ENABLE ALWAYS``: they fire under ``session_replication_role =
replica`` too, which would otherwise skip them (a superuser's or a logical-replication apply's
writes).

Roles are cluster objects: the operator creates them (docs/runbook.md#database-roles), or the
embedded default does. A runtime role that does not exist (one role for everything: the
service's role owns the tables) or that is the migrating role itself gets no grants, with a
warning; the triggers change all the same.

Safe with the previous release live: GRANT, REVOKE and default privileges change catalogue rows
only and take no lock on the tables; ``ENABLE ALWAYS TRIGGER`` takes a SHARE ROW EXCLUSIVE lock
on audit_log for a catalogue update, given up after 5 s rather than queue writes behind a long
transaction (re-run the upgrade). The previous release keeps running as the owning role. Every
statement is idempotent. ``expsvc db downgrade`` below it refuses without ``--force``.

The downgrade puts the triggers back to plain ``ENABLE`` and drops the default privileges, but
leaves the runtime role's grants on the existing tables: a service running as that role keeps
working on the older schema (with the same refusals on audit_log) instead of going down with it.
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGERS = ("audit_log_append_only", "audit_log_no_truncate")
# The migrations' bookkeeping: the service reads it (readiness), only migrations write it.
_READ_ONLY = ("alembic_version", "schema_releases")
# PL/pgSQL run with the runtime role's name as a literal (a DO block takes no parameters).
_GRANT = """
DO $grant$
DECLARE
    runtime name := {role};
    here name := current_schema();
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime) OR runtime = current_user THEN
        RAISE WARNING 'role % {missing}', runtime;
        RETURN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', here, runtime);
    EXECUTE format(
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', here, runtime);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', here, runtime);
    EXECUTE format(
        'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM %I', runtime);
    EXECUTE format(
        'REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {read_only} FROM %I',
        runtime);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', here, runtime);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
        'GRANT USAGE, SELECT ON SEQUENCES TO %I', here, runtime);
END
$grant$
"""
# The default privileges belong to the role that upgraded: audit_log's owner, unless someone
# else (a superuser) downgrades. The grants on existing tables stay (see above).
_REVOKE = """
DO $revoke$
DECLARE
    runtime name := {role};
    here name := current_schema();
    creator name;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime) OR runtime = current_user THEN
        RETURN;
    END IF;
    FOR creator IN SELECT DISTINCT unnest(ARRAY[current_user,
            (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'audit_log'::regclass)])
    LOOP
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
            'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM %I', creator, here, runtime);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
            'REVOKE USAGE, SELECT ON SEQUENCES FROM %I', creator, here, runtime);
    END LOOP;
END
$revoke$
"""


def _runtime_role_literal() -> str:
    role = str(context.config.attributes.get("runtime_role") or "expsvc_runtime")
    return "'" + role.replace("'", "''") + "'"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for trigger in _TRIGGERS:
        op.execute(f"ALTER TABLE audit_log ENABLE ALWAYS TRIGGER {trigger}")
    # PUBLIC has none of these unless someone granted them: make sure.
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM PUBLIC")
    missing = "does not exist or runs the migrations: it gets no grants (docs/security.md)"
    op.execute(
        _GRANT.format(
            role=_runtime_role_literal(), missing=missing, read_only=", ".join(_READ_ONLY)
        )
    )


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute(_REVOKE.format(role=_runtime_role_literal()))
    for trigger in _TRIGGERS:
        op.execute(f"ALTER TABLE audit_log ENABLE TRIGGER {trigger}")
