"""history at scale: status_history and outbox_events partitioned by month

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05

Each table becomes ``PARTITION BY RANGE (created_at)`` without copying a row: the existing table
is attached, as it is, as the partition of everything before a bound (``<table>_legacy``, from
``MINVALUE`` to the first month start at least a day away), and monthly partitions
(``<table>_pYYYYMM``) follow it. The partition job (``expsvc.partition``) keeps creating them
ahead and drops whole ones past retention (docs/adr/0020).

Only catalogue changes hold a lock that blocks writes, each for milliseconds:

1. ``CREATE UNIQUE INDEX CONCURRENTLY`` on ``(id, created_at)`` (a partitioned table's primary
   key must hold its partition key) and, for the outbox, plain indexes on ``seq`` and
   ``event_id`` (their unique indexes cannot span partitions; the sequencer's advisory lock and
   ``nextval`` make ``seq`` unique, ``gen_random_uuid``/uuid4 ``event_id``). Writes go on.
2. ``CHECK (created_at < bound) NOT VALID``: brief ACCESS EXCLUSIVE, no scan.
3. ``VALIDATE CONSTRAINT``: scans under SHARE UPDATE EXCLUSIVE, which writes do not wait for;
   it lets ``ATTACH PARTITION`` skip its own scan under lock.
4. One transaction per table (never two tables' locks at once: a writer of both could
   deadlock with it): the identity column becomes a ``nextval`` default of a sequence continuing
   the identity's (a partition may not have an identity column on PostgreSQL 15), the primary key
   is swapped onto the index of step 1, the table and its indexes are renamed ``*_legacy``, the
   partitioned table is created under the old name with the same columns, defaults and checks,
   the legacy table attached (its indexes are adopted, none is built) and two monthly partitions
   created. Writers of the previous release queue behind it for milliseconds and then write
   through the partitioned table (statements name tables; plans are re-made).

Every step is idempotent, so a re-run after an interruption (``lock_timeout`` of 5 s rather
than queue every query behind a long transaction) completes the conversion; ``--sql`` output
holds the same statements (decisions are made in ``DO`` blocks by the database).

The previous release runs unchanged on the result: it inserts without ids (the default fills
them), reads by the same columns, and has no ``ON CONFLICT`` on these tables.

The downgrade copies the rows back into plain tables under an ACCESS EXCLUSIVE lock: meant for
development databases, not for a live service (stay on 0019 there; the previous release runs
on it).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from alembic import context, op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@dataclass(frozen=True)
class _Conversion:
    table: str
    # Index name → definition (after ``ON <table>``), as the partitioned table declares them.
    indexes: dict[str, str]
    # Unique indexes of the plain table that cannot span partitions: dropped at the swap.
    dropped: tuple[str, ...] = ()

    @property
    def legacy(self) -> str:
        return f"{self.table}_legacy"

    @property
    def bound_check(self) -> str:
        return f"{self.table}_legacy_bound"

    def legacy_index(self, name: str) -> str:
        return f"{self.legacy}_{name.removeprefix(f'ix_{self.table}_')}"


CONVERSIONS = (
    _Conversion("status_history", {"ix_status_history_entity": "(entity_type, entity_id, id)"}),
    _Conversion(
        "outbox_events",
        {
            "ix_outbox_events_seq": "(seq)",
            "ix_outbox_events_event_id": "(event_id)",
            "ix_outbox_events_unsequenced": "(id) WHERE seq IS NULL",
            "ix_outbox_events_type_seq": "(type, seq) WHERE seq IS NOT NULL",
        },
        dropped=("uq_outbox_events_seq", "uq_outbox_events_event_id"),
    ),
)

# The first month start at least a day away (UTC): rows written while the conversion runs
# satisfy the legacy bound even when it runs at the end of a month.
_BOUND = (
    "(date_trunc('month', (now() + interval '1 day') AT TIME ZONE 'UTC')"
    " + interval '1 month') AT TIME ZONE 'UTC'"
)


def upgrade() -> None:
    for conversion in CONVERSIONS:
        if _converted(conversion):
            continue
        with op.get_context().autocommit_block():
            _build_indexes_concurrently(conversion)
            op.execute("SET lock_timeout = '5s'")
            _add_bound_check(conversion)
            op.execute("RESET lock_timeout")
            _validate_bound_check(conversion)
    # Each swap in a transaction of its own: holding one table's lock while waiting for the
    # next one's would deadlock with a writer that locks them in the other order (a statement
    # writing both, re-planned after the first swap, locks in its range table's order).
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        for conversion in CONVERSIONS:
            _swap(conversion)  # one DO block: one transaction
        op.execute("RESET lock_timeout")


def _unless_partitioned(table: str, body: str) -> str:
    """A DO block that runs ``body`` (statements, or a nested DECLARE block) unless ``table`` is
    partitioned already (a re-run)."""
    return (
        "DO $$ BEGIN\n"  # noqa: S608 (names from code or the catalogue)
        f"IF (SELECT relkind FROM pg_class WHERE oid = '{table}'::regclass) = 'p' THEN RETURN;"
        f" END IF;\n{body}\nEND $$"
    )


def _build_indexes_concurrently(conversion: _Conversion) -> None:
    wanted = {conversion.legacy_index("id_created_at"): "UNIQUE INDEX {} ON {} (id, created_at)"}
    for name in conversion.dropped:  # the non-unique replacements of the dropped unique ones
        index = name.replace("uq_", "ix_", 1)
        wanted[conversion.legacy_index(index)] = "INDEX {} ON {} " + conversion.indexes[index]
    table = conversion.table
    for name, statement in wanted.items():
        if not context.is_offline_mode():
            valid = op.get_bind().exec_driver_sql(
                f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{name}')"  # noqa: S608 (names from code or the catalogue)
            )
            if valid.scalar() is False:  # left INVALID by an interrupted build: built again
                op.execute(f"DROP INDEX CONCURRENTLY {name}")
        kind, _, rest = statement.partition("INDEX ")
        op.execute(f"CREATE {kind}INDEX CONCURRENTLY IF NOT EXISTS " + rest.format(name, table))


def _converted(conversion: _Conversion) -> bool:
    if context.is_offline_mode():
        return False  # the DO blocks decide
    partitioned = op.get_bind().exec_driver_sql(
        f"SELECT relkind = 'p' FROM pg_class WHERE oid = '{conversion.table}'::regclass"  # noqa: S608 (names from code)
    )
    return bool(partitioned.scalar())


def _add_bound_check(conversion: _Conversion) -> None:
    body = (
        "IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = "
        f"'{conversion.bound_check}') THEN\n"
        f"  EXECUTE format('ALTER TABLE {conversion.table} ADD CONSTRAINT "
        f"{conversion.bound_check} CHECK (created_at < %L) NOT VALID', {_BOUND});\n"
        "END IF;"
    )
    op.execute(_unless_partitioned(conversion.table, body))


def _validate_bound_check(conversion: _Conversion) -> None:
    body = f"ALTER TABLE {conversion.table} VALIDATE CONSTRAINT {conversion.bound_check};"
    op.execute(_unless_partitioned(conversion.table, body))


def _copy_grants(acl: str, target: str, owned_like: str) -> str:
    """PL/pgSQL granting on ``target`` what the ACL expression ``acl`` grants (the owner of
    ``owned_like`` aside): the runtime role's privileges (0015) carry over to a table or sequence
    the conversion creates, whoever runs it (default privileges cover only the migrating role's
    own new objects). Needs a ``grant_sql text`` variable."""
    return f"""
  FOR grant_sql IN SELECT format('GRANT %s ON {target} TO %s', a.privilege_type,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM aclexplode({acl}) AS a
    WHERE a.grantee <> (SELECT relowner FROM pg_class WHERE oid = '{owned_like}'::regclass)
  LOOP EXECUTE grant_sql; END LOOP;"""  # noqa: S608 (names from code)


def _swap(conversion: _Conversion) -> None:
    t, legacy = conversion.table, conversion.legacy
    renames = "\n".join(
        f"ALTER INDEX {name} RENAME TO {conversion.legacy_index(name)};"
        for name in conversion.indexes
        if name.replace("ix_", "uq_", 1) not in conversion.dropped
    )
    drops = "\n".join(f"DROP INDEX {name};" for name in conversion.dropped)
    parent_indexes = "\n".join(
        f"CREATE INDEX {name} ON {t} {definition};"
        for name, definition in conversion.indexes.items()
    )
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
    FROM pg_constraint WHERE conname = '{conversion.bound_check}';
  SELECT last_value, is_called INTO last_id, called FROM {t}_id_seq;
  SELECT relacl INTO sequence_acl FROM pg_class WHERE oid = '{t}_id_seq'::regclass;
  ALTER TABLE {t} ALTER COLUMN id DROP IDENTITY;
  CREATE SEQUENCE {t}_id_seq AS bigint;
  PERFORM setval('{t}_id_seq', last_id, called);
  {_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq", t)}
  ALTER TABLE {t} ALTER COLUMN id SET DEFAULT nextval('{t}_id_seq');
  ALTER TABLE {t} DROP CONSTRAINT pk_{t},
    ADD CONSTRAINT {legacy}_pkey PRIMARY KEY USING INDEX {conversion.legacy_index("id_created_at")};
  {drops}
  {renames}
  ALTER TABLE {t} RENAME TO {legacy};
  CREATE TABLE {t} (LIKE {legacy} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (created_at);
  ALTER TABLE {t} DROP CONSTRAINT {conversion.bound_check};
  ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id, created_at);
  {_copy_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{legacy}'::regclass)", t, legacy)}
  ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id;
  {parent_indexes}
  EXECUTE format('ALTER TABLE {t} ATTACH PARTITION {legacy} FOR VALUES FROM (MINVALUE) TO (%L)',
                 bound);
  FOR month IN 0..1 LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF {t} FOR VALUES FROM (%L) TO (%L)',
      '{t}_p' || to_char((bound + make_interval(months => month)) AT TIME ZONE 'UTC', 'YYYYMM'),
      bound + make_interval(months => month), bound + make_interval(months => month + 1));
  END LOOP;
END;"""  # noqa: S608 (names from code)
    op.execute(_unless_partitioned(t, body))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    for conversion in reversed(CONVERSIONS):
        _copy_back(conversion)


def _copy_back(conversion: _Conversion) -> None:
    t = conversion.table
    replaced = {name.replace("uq_", "ix_", 1) for name in conversion.dropped}
    plain_indexes = [
        f"CREATE INDEX {name} ON {t} {definition};"
        for name, definition in conversion.indexes.items()
        if name not in replaced
    ] + [
        f"CREATE UNIQUE INDEX {name} ON {t} {conversion.indexes[name.replace('uq_', 'ix_', 1)]};"
        for name in conversion.dropped
    ]
    statements = "\n".join(plain_indexes)
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
{_copy_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{t}_partitioned'::regclass)", t, t)}
ALTER TABLE {t} ALTER COLUMN created_at SET DEFAULT clock_timestamp();
INSERT INTO {t} SELECT * FROM {t}_partitioned;
DROP TABLE {t}_partitioned CASCADE;
ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
{_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq", t)}
PERFORM setval(pg_get_serial_sequence('{t}', 'id'), coalesce(max(id), 0) + 1, false) FROM {t};
ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id);
{statements}
END $$""")  # noqa: S608 (names from code)
