"""history at scale: audit_log partitioned by month of occurred_at, still append-only

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05

The recipe of 0019 (docs/adr/0020): the existing table is attached, as it is, as
``audit_log_legacy`` (``MINVALUE`` to the first month start at least a day away), after a
concurrent ``UNIQUE (id, occurred_at)`` build and a validated bound check; the swap is one
transaction holding the table's lock for milliseconds; two months follow, created by
``expsvc_create_partition`` (0020). What 0004 and 0015 guarantee stays true:

- The partitioned parent belongs to the role running this (the owner); the runtime role gets
  on it what it had on the old table (SELECT, INSERT), nothing else, and PUBLIC nothing. On
  the partitions, the legacy one included, nobody but the owner holds any privilege (the
  service goes through the parent; checked again on every upgrade).
- The append-only row trigger is created on the parent ``ENABLE ALWAYS`` and cloned to every
  partition (the legacy table's own is dropped in the swap's transaction, so there is no moment
  without one); the no-truncate statement trigger is on the parent, and on each partition (a
  partition truncated by name does not fire its parent's): the legacy keeps its own, months get
  theirs from ``expsvc_create_partition``, which also leaves them without any privilege but
  the owner's.
- Audit rows are kept for good (docs/audit.md): the partition job only creates months for
  audit_log; ``expsvc_drop_partition`` refuses it. Removing old audit rows stays an owner's act,
  now as cheap as detaching and dropping a month (docs/audit.md#retention).

The previous release inserts without ids and reads by the same columns: it runs unchanged.
The downgrade copies the rows back into a plain table under lock (development databases only).
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_log"
LEGACY = "audit_log_legacy"
BOUND_CHECK = "audit_log_legacy_bound"
KEY_INDEX = "audit_log_legacy_id_occurred_at"
INDEXES = {
    "ix_audit_log_entity": "(entity_type, entity_id, id)",
    "ix_audit_log_actor_id": "(actor, id)",
    "ix_audit_log_occurred_at": "(occurred_at)",
    "ix_audit_log_batch_id": "(batch_id) WHERE batch_id IS NOT NULL",
}
_TRIGGERS = f"""
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON {TABLE}
  FOR EACH ROW EXECUTE FUNCTION expsvc_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {TABLE}
  FOR EACH STATEMENT EXECUTE FUNCTION expsvc_audit_log_append_only();
ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER audit_log_append_only;
ALTER TABLE {TABLE} ENABLE ALWAYS TRIGGER audit_log_no_truncate;"""
_BOUND = (
    "(date_trunc('month', (now() + interval '1 day') AT TIME ZONE 'UTC')"
    " + interval '1 month') AT TIME ZONE 'UTC'"
)


def _legacy_index(name: str) -> str:
    return f"{LEGACY}_{name.removeprefix('ix_audit_log_')}"


def _unless_partitioned(body: str) -> str:
    return (
        "DO $$ BEGIN\n"  # noqa: S608 (names from code)
        f"IF (SELECT relkind FROM pg_class WHERE oid = '{TABLE}'::regclass) = 'p' THEN RETURN;"
        f" END IF;\n{body}\nEND $$"
    )


def _copy_grants(acl: str, target: str) -> str:
    """PL/pgSQL granting on ``target`` what ``acl`` grants to others than the table's owner."""
    return f"""
  FOR grant_sql IN SELECT format('GRANT %s ON {target} TO %s', a.privilege_type,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM aclexplode({acl}) AS a
    WHERE a.grantee <> (SELECT relowner FROM pg_class WHERE oid = '{TABLE}'::regclass)
  LOOP EXECUTE grant_sql; END LOOP;"""  # noqa: S608 (names from code)


def _only_copied_grants(acl: str, target: str) -> str:
    """PL/pgSQL: ``target`` (a table this migration creates) keeps, for others than its owner,
    exactly what ``acl`` grants: the default privileges of 0015 gave the runtime role UPDATE and
    DELETE on it, which audit_log must not have. Needs a ``grant_sql text`` variable."""
    return f"""
  FOR grant_sql IN SELECT DISTINCT format('REVOKE ALL ON {target} FROM %s',
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM pg_class AS c, aclexplode(c.relacl) AS a
    WHERE c.oid = '{target}'::regclass AND a.grantee <> c.relowner
  LOOP EXECUTE grant_sql; END LOOP;
  {_copy_grants(acl, target)}"""  # noqa: S608 (names from code)


# Nobody but the owner holds a privilege on a partition of audit_log (the service goes through
# the parent, whose privileges are checked): run on every upgrade, so a re-run of 0015's
# GRANT … ON ALL TABLES cannot leave UPDATE or DELETE on one.
_PARTITIONS_OWNER_ONLY = """
DO $$
DECLARE
  revoke_sql text;
BEGIN
  FOR revoke_sql IN SELECT DISTINCT format('REVOKE ALL ON %I FROM %s', c.relname,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid, aclexplode(c.relacl) AS a
    WHERE i.inhparent = 'audit_log'::regclass AND a.grantee <> c.relowner
  LOOP EXECUTE revoke_sql; END LOOP;
END $$"""


def upgrade() -> None:
    if not _converted():
        with op.get_context().autocommit_block():
            _build_key_index()
            op.execute("SET lock_timeout = '5s'")
            op.execute(
                _unless_partitioned(
                    f"IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = '{BOUND_CHECK}')"
                    f" THEN\n  EXECUTE format('ALTER TABLE {TABLE} ADD CONSTRAINT {BOUND_CHECK}"
                    f" CHECK (occurred_at < %L) NOT VALID', {_BOUND});\nEND IF;"
                )
            )
            op.execute("RESET lock_timeout")
            op.execute(
                _unless_partitioned(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {BOUND_CHECK};")
            )
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        _swap()
        op.execute("RESET lock_timeout")
    op.execute(_PARTITIONS_OWNER_ONLY)


def _converted() -> bool:
    if context.is_offline_mode():
        return False  # the DO blocks decide
    partitioned = op.get_bind().exec_driver_sql(
        f"SELECT relkind = 'p' FROM pg_class WHERE oid = '{TABLE}'::regclass"  # noqa: S608
    )
    return bool(partitioned.scalar())


def _build_key_index() -> None:
    if not context.is_offline_mode():
        valid = op.get_bind().exec_driver_sql(
            f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{KEY_INDEX}')"  # noqa: S608
        )
        if valid.scalar() is False:  # left INVALID by an interrupted build: built again
            op.execute(f"DROP INDEX CONCURRENTLY {KEY_INDEX}")
    op.execute(
        f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {KEY_INDEX} ON {TABLE} (id, occurred_at)"
    )


def _swap() -> None:
    renames = "\n".join(
        f"  ALTER INDEX {name} RENAME TO {_legacy_index(name)};" for name in INDEXES
    )
    parent_indexes = "\n".join(
        f"  CREATE INDEX {name} ON {TABLE} {definition};" for name, definition in INDEXES.items()
    )
    t = TABLE
    body = f"""
DECLARE
  bound timestamptz;
  last_id bigint;
  called boolean;
  sequence_acl aclitem[];
  grant_sql text;
BEGIN
  LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE;
  SELECT (regexp_match(pg_get_constraintdef(oid), '''([^'']+)'''))[1]::timestamptz INTO bound
    FROM pg_constraint WHERE conname = '{BOUND_CHECK}';
  SELECT last_value, is_called INTO last_id, called FROM {t}_id_seq;
  SELECT relacl INTO sequence_acl FROM pg_class WHERE oid = '{t}_id_seq'::regclass;
  ALTER TABLE {t} ALTER COLUMN id DROP IDENTITY;
  CREATE SEQUENCE {t}_id_seq AS bigint;
  PERFORM setval('{t}_id_seq', last_id, called);
  {_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq")}
  ALTER TABLE {t} ALTER COLUMN id SET DEFAULT nextval('{t}_id_seq');
  ALTER TABLE {t} DROP CONSTRAINT pk_{t},
    ADD CONSTRAINT {LEGACY}_pkey PRIMARY KEY USING INDEX {KEY_INDEX};
{renames}
  -- The parent's clone replaces it at ATTACH, in this transaction: never a moment without.
  DROP TRIGGER audit_log_append_only ON {t};
  ALTER TABLE {t} RENAME TO {LEGACY};
  CREATE TABLE {t} (LIKE {LEGACY} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (occurred_at);
  ALTER TABLE {t} DROP CONSTRAINT {BOUND_CHECK};
  ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id, occurred_at);
  {_only_copied_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{LEGACY}'::regclass)", t)}
  ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id;
{parent_indexes}
  {_TRIGGERS}
  EXECUTE format('ALTER TABLE {t} ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO (%L)',
                 bound);
  PERFORM expsvc_create_partition('{t}', bound);
  PERFORM expsvc_create_partition('{t}', bound + interval '1 month');
END;"""  # noqa: S608 (names from code)
    op.execute(_unless_partitioned(body))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    t = TABLE
    indexes = "\n".join(
        f"CREATE INDEX {name} ON {t} {definition};" for name, definition in INDEXES.items()
    )
    op.execute(f"""
DO $$
DECLARE
  sequence_acl aclitem[];
  grant_sql text;
BEGIN
IF (SELECT relkind FROM pg_class WHERE oid = '{t}'::regclass) <> 'p' THEN RETURN; END IF;
LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE;
SELECT relacl INTO sequence_acl FROM pg_class WHERE oid = '{t}_id_seq'::regclass;
ALTER TABLE {t} RENAME TO {t}_partitioned;
ALTER TABLE {t}_partitioned RENAME CONSTRAINT pk_{t} TO {t}_partitioned_pkey;
CREATE TABLE {t} (LIKE {t}_partitioned INCLUDING CONSTRAINTS);
{_only_copied_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{t}_partitioned'::regclass)", t)}
ALTER TABLE {t} ALTER COLUMN occurred_at SET DEFAULT clock_timestamp();
INSERT INTO {t} SELECT * FROM {t}_partitioned;
-- DROP is no TRUNCATE nor DELETE: the append-only triggers do not fire.
DROP TABLE {t}_partitioned CASCADE;
ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
{_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq")}
PERFORM setval(pg_get_serial_sequence('{t}', 'id'), coalesce(max(id), 0) + 1, false) FROM {t};
ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id);
{indexes}
{_TRIGGERS}
END $$""")  # noqa: S608 (names from code)
