"""history at scale: the partition job's SECURITY DEFINER functions, callable by the runtime role

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05

Since 0015 the service runs as a runtime role that owns nothing and has no CREATE on the schema
(docs/adr/0019): it cannot create, attach or drop a partition. The partition job
(``expsvc.partition``) calls two functions instead, owned by the role running this migration
(the tables' owner) and run with its rights (``SECURITY DEFINER``); only they change partitions:

- ``expsvc_create_partition(parent regclass, lower timestamptz)`` creates the month starting at
  ``lower`` (a UTC month start) of one of our partitioned tables as ``<parent>_pYYYYMM`` and
  attaches it (SHARE UPDATE EXCLUSIVE on the parent: writes go on); it returns the name.
- ``expsvc_drop_partition(target regclass)`` drops a partition of one of those tables whose
  range is one month (or the legacy partition, from MINVALUE). Which months are past retention
  is the job's decision (its clock is a parameter in tests): the runtime role may DELETE every
  row of these tables anyway, so dropping a month gives it nothing it did not have.

Both refuse any other table, schema or bound; names are quoted with ``format('%I')``; their
``search_path`` is ``pg_catalog, pg_temp`` and every table is named with its schema, so a
caller's objects cannot stand in for ours. EXECUTE goes to the runtime role only (revoked from
PUBLIC). The caller's ``lock_timeout`` applies inside them.

``audit_log`` cannot be dropped through them: the runtime role could otherwise drop audit rows
it may not delete. It may have months created (once 0021 partitions it), each made append-only
like the parent: the cloned row trigger, a no-truncate trigger of its own, and no privilege but
the owner's.
Catalogue changes only; safe with the previous release live.
"""

from collections.abc import Sequence

from alembic import context, op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The partitioned tables the functions may change (webhook deliveries and attempts are listed
# for the contract step that partitions them, docs/adr/0020; until then they are refused as not
# partitioned). audit_log (partitioned by 0021) only gets months created: the runtime role may
# not remove audit rows, so it may not drop their partitions either.
TABLES = ("status_history", "outbox_events", "webhook_deliveries", "webhook_delivery_attempts")

# PL/pgSQL created by a DO block that writes the migrating schema's name into the bodies.
_FUNCTIONS = """
DO $create$
DECLARE
    here text := quote_ident(current_schema());
BEGIN
    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s.expsvc_create_partition(parent regclass, lower timestamptz)
RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET datestyle = 'ISO, YMD' SET timezone = 'UTC'
AS $body$
DECLARE
    tbl name;
    upper timestamptz := lower + interval '1 month';
    child text;
    revoke_sql text;
BEGIN
    SELECT c.relname INTO tbl FROM pg_class AS c
     WHERE c.oid = parent AND c.relkind = 'p'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %2$L)
       AND c.relname = ANY (%3$L::name[] || '{audit_log}'::name[]);
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'not a partitioned history table: %%', parent
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF lower IS NULL OR lower <> date_trunc('month', lower) THEN
        RAISE EXCEPTION 'not a month start (UTC): %%', lower
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    child := tbl || '_p' || to_char(lower, 'YYYYMM');
    -- Created apart and attached: ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, which
    -- writes do not wait for (CREATE ... PARTITION OF takes ACCESS EXCLUSIVE); empty, no scan.
    EXECUTE format('CREATE TABLE %%1$I.%%2$I (LIKE %%1$I.%%3$I INCLUDING DEFAULTS'
        ' INCLUDING CONSTRAINTS)', %2$L, child, tbl);
    EXECUTE format('ALTER TABLE %%1$I.%%2$I ATTACH PARTITION %%1$I.%%3$I'
        ' FOR VALUES FROM (%%4$L) TO (%%5$L)', %2$L, tbl, child, lower, upper);
    IF tbl = 'audit_log' THEN
        -- What 0004/0015 guarantee on the parent, on the partition itself: the row trigger is
        -- cloned (ENABLE ALWAYS, as the parent's), TRUNCATE of the partition needs its own, and
        -- nobody but the owner holds a privilege on it (the service goes through the parent;
        -- the default privileges of 0015 would have given the runtime role UPDATE, DELETE).
        EXECUTE format('CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %%1$I.%%2$I'
            ' FOR EACH STATEMENT EXECUTE FUNCTION %%1$I.expsvc_audit_log_append_only()',
            %2$L, child);
        EXECUTE format('ALTER TABLE %%1$I.%%2$I ENABLE ALWAYS TRIGGER audit_log_no_truncate',
            %2$L, child);
        FOR revoke_sql IN SELECT DISTINCT format('REVOKE ALL ON %%1$I.%%2$I FROM %%3$s', %2$L,
                child, CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                            ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
            FROM pg_class AS c, aclexplode(c.relacl) AS a
            WHERE c.relname = child
              AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %2$L)
              AND a.grantee <> c.relowner
        LOOP
            EXECUTE revoke_sql;
        END LOOP;
    END IF;
    RETURN child;
END
$body$ $f$, here, current_schema(), %(tables)s);

    EXECUTE format($f$
CREATE OR REPLACE FUNCTION %1$s.expsvc_drop_partition(target regclass)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp SET datestyle = 'ISO, YMD' SET timezone = 'UTC'
AS $body$
DECLARE
    child name;
    bound text;
    lower timestamptz;
    upper timestamptz;
BEGIN
    SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) INTO child, bound
      FROM pg_class AS c
      JOIN pg_inherits AS i ON i.inhrelid = c.oid
      JOIN pg_class AS p ON p.oid = i.inhparent
     WHERE c.oid = target AND c.relkind = 'r' AND p.relkind = 'p'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %2$L)
       AND p.relnamespace = c.relnamespace
       AND p.relname = ANY (%3$L::name[]);
    IF child IS NULL THEN
        RAISE EXCEPTION 'not a partition of a history table: %%', target
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    lower := (regexp_match(bound, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz;
    upper := (regexp_match(bound, 'TO \\(''([^'']+)''\\)'))[1]::timestamptz;
    IF upper IS NULL OR upper <> date_trunc('month', upper)
       OR NOT (lower = upper - interval '1 month' OR (lower IS NULL AND bound LIKE '%%MINVALUE%%'))
    THEN
        RAISE EXCEPTION 'not a month partition: %% (%%)', target, bound
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('DROP TABLE %%1$I.%%2$I', %2$L, child);
END
$body$ $f$, here, current_schema(), %(tables)s);

    EXECUTE format('REVOKE ALL ON FUNCTION %s.expsvc_create_partition(regclass, timestamptz),'
        ' %s.expsvc_drop_partition(regclass) FROM PUBLIC', here, here);
END
$create$
"""

_GRANT = """
DO $grant$
DECLARE
    runtime name := {role};
    here text := quote_ident(current_schema());
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime) OR runtime = current_user THEN
        RETURN;  -- one role for everything (0015 warned): it owns the functions
    END IF;
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s.expsvc_create_partition(regclass, timestamptz),'
        ' %s.expsvc_drop_partition(regclass) TO %I', here, here, runtime);
END
$grant$
"""


def _runtime_role_literal() -> str:
    role = str(context.config.attributes.get("runtime_role") or "expsvc_runtime")
    return "'" + role.replace("'", "''") + "'"


def _tables_literal() -> str:
    return "'{" + ",".join(TABLES) + "}'"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # %(tables)s is filled here; every other % belongs to format() in the DO block.
    op.execute(_FUNCTIONS.replace("%(tables)s", _tables_literal()))
    op.execute(_GRANT.format(role=_runtime_role_literal()))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("DROP FUNCTION IF EXISTS expsvc_drop_partition(regclass)")
    op.execute("DROP FUNCTION IF EXISTS expsvc_create_partition(regclass, timestamptz)")
