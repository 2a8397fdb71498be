"""history at scale: webhook deliveries and their attempts partitioned by month (contract step)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06

ADR 0020's contract step for the webhook tables, with the recipe of 0019 (the old table attached,
as it is, as ``<table>_legacy`` from ``MINVALUE`` to the first month start at least a day away;
no copy; only catalogue changes under a lock that blocks writes): ``webhook_deliveries`` by
``created_at``, ``webhook_delivery_attempts`` by ``started_at``. The partition job's drop of a
month is then the delivery purge, whatever the backlog. What it changes beyond 0019:

- ``uq_webhook_deliveries_endpoint_id_event_id`` cannot span partitions (a unique index of a
  partitioned table must hold the partition key): it becomes the plain index
  ``ix_webhook_deliveries_endpoint_id_event_id``, built concurrently beforehand. The fan-out of
  0.2.0 and later names no conflict target and writes in the relay's transaction, which advances
  the sink's cursor, so an event becomes deliveries once without it. Code that names
  ``ON CONFLICT (endpoint_id, event_id)`` (0.1.0) fails on this schema at planning: that is the
  contract, and 0.1.0 has not been a supported release since 0.2.0 (releases.toml).
- ``webhook_delivery_attempts.delivery_id`` can no longer reference ``webhook_deliveries (id)``
  (not unique alone any more): the foreign key is dropped, in a transaction of its own.
  Attempts go by month with the same retention, never before the deliveries they may belong
  to (the partition job); an endpoint's deletion still cascades to its deliveries and leaves
  their attempts to their month. Nothing reads an attempt but through its delivery.
- ``webhook_deliveries``' foreign key to ``webhook_endpoints`` is declared on the parent; the
  legacy partition's identical one is adopted by the attach (no validation), which drops its
  action triggers on ``webhook_endpoints``: the deliveries' swap holds ACCESS EXCLUSIVE on the
  endpoints too, for milliseconds.
- The attempts' identity becomes a ``nextval`` default of a sequence continuing it (a partition
  may not have an identity column on PostgreSQL 15), with the identity sequence's grants.
- The partitioned parents and the sequence keep the old tables' owner, whoever runs this: the
  functions of 0020 run as that owner, and attach the months to parents it must own.

Steps, each idempotent (a re-run after an interruption, such as a ``lock_timeout``, completes
the conversion; ``--sql`` output holds the same statements, decided by the database in ``DO``
blocks): per table, the unique ``(id, <key>)`` index (and the deliveries' plain
``(endpoint_id, event_id)``) ``CONCURRENTLY``, the bound ``CHECK`` ``NOT VALID`` and its
``VALIDATE`` (a scan under SHARE UPDATE EXCLUSIVE, which writes do not wait for); then the
attempts' foreign key dropped; then one transaction per table for the swap, in which the two
first months are created by ``expsvc_create_partition`` (0020; they get the runtime role's
privileges as every month does).

Two steps lock two tables (the foreign key's drop: deliveries and attempts; the deliveries' swap:
endpoints and deliveries), and 0.2.0 takes those in both orders (its relay reads the endpoints
and then fans out; its delivery worker claims deliveries and then reads their endpoints). So
neither step waits for one lock while holding the other for long: each try waits at most
200 ms per lock, less than ``deadlock_timeout`` (1 s), gives up first, releases what it took and
tries again, until 5 s are spent (then the migration fails with ``lock_timeout``'s error and is
re-run). Without that, the test saw 0.2.0's fan-out and attempt log die as deadlock victims.

0.2.0 runs unchanged on the result: it inserts deliveries without a conflict target and attempts
without ids, reads by the same columns (its statements re-plan after the swap), and its row
purge deletes finished deliveries through the parent (their attempts, no longer cascaded, go
with their month). This release's delivery worker leaves the purge to the partition job once
the deliveries are partitioned.

The downgrade copies the rows back into plain tables under lock (development databases only):
it refuses when two deliveries of one event to one endpoint exist (the unique constraint cannot
come back), and does not copy back attempts whose delivery is gone (0024's foreign key would
have deleted them with it).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from alembic import context, op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ATTEMPTS_FOREIGN_KEY = "fk_webhook_delivery_attempts_delivery_id_webhook_deliveries"
_ENDPOINTS_FOREIGN_KEY = "fk_webhook_deliveries_endpoint_id_webhook_endpoints"


@dataclass(frozen=True)
class _Conversion:
    table: str
    key: str  # the partition key
    # Index name → definition (after ``ON <table>``), as the partitioned table declares them.
    indexes: dict[str, str]
    identity: bool
    # Unique constraint of the plain table → the plain index that replaces it.
    unique: dict[str, str] = field(default_factory=dict)
    # Other tables the swap locks (ACCESS EXCLUSIVE), taken before it.
    also_locks: tuple[str, ...] = ()
    # Foreign keys declared on the partitioned parent: name → definition.
    foreign_keys: dict[str, str] = field(default_factory=dict)

    @property
    def legacy(self) -> str:
        return f"{self.table}_legacy"

    @property
    def bound_check(self) -> str:
        return f"{self.table}_legacy_bound"

    @property
    def key_index(self) -> str:
        return f"{self.legacy}_id_{self.key}"

    def legacy_index(self, name: str) -> str:
        return f"{self.legacy}_{name.removeprefix(f'ix_{self.table}_')}"


ATTEMPTS = _Conversion(
    "webhook_delivery_attempts",
    "started_at",
    {"ix_webhook_delivery_attempts_delivery_id_id": "(delivery_id, id)"},
    identity=True,
)
DELIVERIES = _Conversion(
    "webhook_deliveries",
    "created_at",
    {
        "ix_webhook_deliveries_endpoint_id_event_id": "(endpoint_id, event_id)",
        "ix_webhook_deliveries_endpoint_id_created_at_id": "(endpoint_id, created_at, id)",
        "ix_webhook_deliveries_due": "(next_attempt_at) WHERE status IN ('pending', 'delivering')",
        "ix_webhook_deliveries_finished_at": "(finished_at) WHERE finished_at IS NOT NULL",
    },
    identity=False,
    unique={
        "uq_webhook_deliveries_endpoint_id_event_id": "ix_webhook_deliveries_endpoint_id_event_id"
    },
    # The attach drops the legacy foreign key's triggers on the endpoints (ACCESS EXCLUSIVE).
    also_locks=("webhook_endpoints",),
    foreign_keys={
        _ENDPOINTS_FOREIGN_KEY: "FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id)"
        " ON DELETE CASCADE"
    },
)
# Attempts first: their foreign key to the deliveries' primary key goes before that key moves.
CONVERSIONS = (ATTEMPTS, DELIVERIES)

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
    # Each step below in a transaction of its own (one DO block each): holding one table's lock
    # while waiting for another's could deadlock with a writer that takes them in another order.
    with op.get_context().autocommit_block():
        op.execute("SET lock_timeout = '5s'")
        _drop_attempts_foreign_key()
        for conversion in CONVERSIONS:
            _swap(conversion)
        op.execute("RESET lock_timeout")


def _unless_partitioned(table: str, body: str) -> str:
    """A DO block that runs ``body`` (statements, or a nested DECLARE block) unless ``table`` is
    partitioned already (a re-run)."""
    return (
        "DO $$ BEGIN\n"  # noqa: S608 (names from code)
        f"IF (SELECT relkind FROM pg_class WHERE oid = '{table}'::regclass) = 'p' THEN RETURN;"
        f" END IF;\n{body}\nEND $$"
    )


def _converted(conversion: _Conversion) -> bool:
    if context.is_offline_mode():
        return False  # the DO blocks decide
    partitioned = op.get_bind().exec_driver_sql(
        f"SELECT relkind = 'p' FROM pg_class WHERE oid = '{conversion.table}'::regclass"  # noqa: S608 (names from code)
    )
    return bool(partitioned.scalar())


def _build_indexes_concurrently(conversion: _Conversion) -> None:
    wanted = {conversion.key_index: f"UNIQUE INDEX {{}} ON {{}} (id, {conversion.key})"}
    for index in conversion.unique.values():  # the plain replacements of the unique ones
        wanted[conversion.legacy_index(index)] = "INDEX {} ON {} " + conversion.indexes[index]
    for name, statement in wanted.items():
        if not context.is_offline_mode():
            valid = op.get_bind().exec_driver_sql(
                f"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{name}')"  # noqa: S608 (names from code)
            )
            if valid.scalar() is False:  # left INVALID by an interrupted build: built again
                op.execute(f"DROP INDEX CONCURRENTLY {name}")
        kind, _, rest = statement.partition("INDEX ")
        op.execute(
            f"CREATE {kind}INDEX CONCURRENTLY IF NOT EXISTS " + rest.format(name, conversion.table)
        )


def _add_bound_check(conversion: _Conversion) -> None:
    body = (
        "IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = "
        f"'{conversion.bound_check}') THEN\n"
        f"  EXECUTE format('ALTER TABLE {conversion.table} ADD CONSTRAINT "
        f"{conversion.bound_check} CHECK ({conversion.key} < %L) NOT VALID', {_BOUND});\n"
        "END IF;"
    )
    op.execute(_unless_partitioned(conversion.table, body))


def _validate_bound_check(conversion: _Conversion) -> None:
    body = f"ALTER TABLE {conversion.table} VALIDATE CONSTRAINT {conversion.bound_check};"
    op.execute(_unless_partitioned(conversion.table, body))


def _lock_in_turn(tables: Sequence[str]) -> str:
    """PL/pgSQL taking ACCESS EXCLUSIVE on ``tables`` without waiting long for one while holding
    another: each try waits at most 200 ms per lock, under ``deadlock_timeout`` (1 s), so in a
    deadlock with a writer that takes the tables in the other order this try gives up first;
    its subtransaction's rollback releases what it took, and it tries again until 5 s are spent
    (then ``lock_not_available``, as ``lock_timeout`` would). Needs a ``deadline timestamptz``."""
    locks = "\n".join(f"      LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;" for table in tables)
    return f"""
  deadline := clock_timestamp() + interval '5 seconds';
  LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '200ms', true);
{locks}
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      IF clock_timestamp() >= deadline THEN
        RAISE;
      END IF;
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', '5s', true);"""


def _drop_attempts_foreign_key() -> None:
    # Dropping it locks both tables (ACCESS EXCLUSIVE).
    op.execute(f"""
DO $$
DECLARE
  deadline timestamptz;
BEGIN
IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = '{_ATTEMPTS_FOREIGN_KEY}') THEN
  RETURN;
END IF;
{_lock_in_turn(["webhook_deliveries", "webhook_delivery_attempts"])}
ALTER TABLE webhook_delivery_attempts DROP CONSTRAINT {_ATTEMPTS_FOREIGN_KEY};
END $$""")


def _copy_grants(acl: str, target: str, owned_like: str) -> str:
    """PL/pgSQL granting on ``target`` what the ACL expression ``acl`` grants (the owner of
    ``owned_like`` aside): the runtime role's privileges (0015) carry over to a table or sequence
    the conversion creates, whoever runs it. Needs a ``grant_sql text`` variable."""
    return f"""
  FOR grant_sql IN SELECT format('GRANT %s ON {target} TO %s', a.privilege_type,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END)
    FROM aclexplode({acl}) AS a
    WHERE a.grantee <> (SELECT relowner FROM pg_class WHERE oid = '{owned_like}'::regclass)
  LOOP EXECUTE grant_sql; END LOOP;"""  # noqa: S608 (names from code)


def _same_owner(target: str, owned_like: str) -> str:
    """PL/pgSQL giving ``target`` (created by whoever runs this) the owner of ``owned_like``: the
    tables keep their owner, which the functions of 0020 run as (they attach the months)."""
    return (
        f"EXECUTE format('ALTER {target} OWNER TO %I', (SELECT pg_get_userbyid(relowner)"  # noqa: S608 (names from code)
        f" FROM pg_class WHERE oid = '{owned_like}'::regclass));"
    )


def _identity_to_sequence(t: str) -> str:
    return f"""
  SELECT last_value, is_called INTO last_id, called FROM {t}_id_seq;
  SELECT relacl INTO sequence_acl FROM pg_class WHERE oid = '{t}_id_seq'::regclass;
  ALTER TABLE {t} ALTER COLUMN id DROP IDENTITY;
  CREATE SEQUENCE {t}_id_seq AS bigint;
  {_same_owner(f"SEQUENCE {t}_id_seq", t)}
  PERFORM setval('{t}_id_seq', last_id, called);
  {_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq", t)}
  ALTER TABLE {t} ALTER COLUMN id SET DEFAULT nextval('{t}_id_seq');"""  # noqa: S608 (names from code)


def _swap(conversion: _Conversion) -> None:
    t, legacy, key = conversion.table, conversion.legacy, conversion.key
    replaced = set(conversion.unique.values())
    renames = "\n".join(
        f"  ALTER INDEX {name} RENAME TO {conversion.legacy_index(name)};"
        for name in conversion.indexes
        if name not in replaced
    )
    drops = "\n".join(f"  ALTER TABLE {t} DROP CONSTRAINT {name};" for name in conversion.unique)
    parent = "\n".join(
        [f"  CREATE INDEX {n} ON {t} {d};" for n, d in conversion.indexes.items()]
        + [f"  ALTER TABLE {t} ADD CONSTRAINT {n} {d};" for n, d in conversion.foreign_keys.items()]
    )
    identity = _identity_to_sequence(t) if conversion.identity else ""
    owned = f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id;" if conversion.identity else ""
    body = f"""
DECLARE
  bound timestamptz;
  last_id bigint;
  called boolean;
  sequence_acl aclitem[];
  grant_sql text;
  deadline timestamptz;
BEGIN
  {_lock_in_turn([*conversion.also_locks, t])}
  SELECT (regexp_match(pg_get_constraintdef(oid), '''([^'']+)'''))[1]::timestamptz INTO bound
    FROM pg_constraint WHERE conname = '{conversion.bound_check}';
  {identity}
  ALTER TABLE {t} DROP CONSTRAINT pk_{t},
    ADD CONSTRAINT {legacy}_pkey PRIMARY KEY USING INDEX {conversion.key_index};
{drops}
{renames}
  ALTER TABLE {t} RENAME TO {legacy};
  CREATE TABLE {t} (LIKE {legacy} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE ({key});
  {_same_owner(f"TABLE {t}", legacy)}
  ALTER TABLE {t} DROP CONSTRAINT {conversion.bound_check};
  ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id, {key});
  {_copy_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{legacy}'::regclass)", t, legacy)}
  {owned}
{parent}
  EXECUTE format('ALTER TABLE {t} ATTACH PARTITION {legacy} FOR VALUES FROM (MINVALUE) TO (%L)',
                 bound);
  PERFORM expsvc_create_partition('{t}', bound);
  PERFORM expsvc_create_partition('{t}', bound + interval '1 month');
END;"""  # noqa: S608 (names from code)
    op.execute(_unless_partitioned(t, body))


def downgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # Deliveries first: the attempts' foreign key needs their plain primary key back.
    for conversion in reversed(CONVERSIONS):
        _copy_back(conversion)


def _copy_back(conversion: _Conversion) -> None:
    t = conversion.table
    replaced = set(conversion.unique.values())
    refusal = ""
    rows = f"SELECT * FROM {t}_partitioned"  # noqa: S608 (names from code)
    constraints = [
        f"ALTER TABLE {t} ADD CONSTRAINT {name} UNIQUE {conversion.indexes[index]};"
        for name, index in conversion.unique.items()
    ] + [f"ALTER TABLE {t} ADD CONSTRAINT {n} {d};" for n, d in conversion.foreign_keys.items()]
    if conversion.unique:
        refusal = f"""
IF EXISTS (SELECT FROM {t} GROUP BY endpoint_id, event_id HAVING count(*) > 1) THEN
  RAISE EXCEPTION 'cannot downgrade 0025: two deliveries of one event to one endpoint exist'
    USING HINT = 'delete the repeats, keeping one per (endpoint_id, event_id)';
END IF;"""
    if conversion.identity:
        rows += (
            " AS a WHERE EXISTS (SELECT FROM webhook_deliveries AS d WHERE d.id = a.delivery_id)"
        )
        constraints.append(
            f"ALTER TABLE {t} ADD CONSTRAINT {_ATTEMPTS_FOREIGN_KEY} FOREIGN KEY (delivery_id)"
            " REFERENCES webhook_deliveries (id) ON DELETE CASCADE;"
        )
    identity = (
        f"""ALTER TABLE {t} ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
{_copy_grants("sequence_acl", f"SEQUENCE {t}_id_seq", t)}
PERFORM setval(pg_get_serial_sequence('{t}', 'id'), coalesce(max(id), 0) + 1, false) FROM {t};"""
        if conversion.identity
        else ""
    )
    indexes = "\n".join(
        f"CREATE INDEX {name} ON {t} {definition};"
        for name, definition in conversion.indexes.items()
        if name not in replaced
    )
    op.execute(f"""
DO $$
DECLARE
  sequence_acl aclitem[];
  grant_sql text;
BEGIN
IF (SELECT relkind FROM pg_class WHERE oid = '{t}'::regclass) <> 'p' THEN RETURN; END IF;
LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE;
{refusal}
SELECT relacl INTO sequence_acl FROM pg_class WHERE oid = to_regclass('{t}_id_seq');
ALTER TABLE {t} RENAME TO {t}_partitioned;
ALTER TABLE {t}_partitioned RENAME CONSTRAINT pk_{t} TO {t}_partitioned_pkey;
CREATE TABLE {t} (LIKE {t}_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
{_same_owner(f"TABLE {t}", f"{t}_partitioned")}
{_copy_grants(f"(SELECT relacl FROM pg_class WHERE oid = '{t}_partitioned'::regclass)", t, t)}
ALTER TABLE {t} ALTER COLUMN id DROP DEFAULT;
INSERT INTO {t} {rows};
DROP TABLE {t}_partitioned CASCADE;
{identity}
ALTER TABLE {t} ADD CONSTRAINT pk_{t} PRIMARY KEY (id);
{indexes}
{chr(10).join(constraints)}
END $$""")  # noqa: S608 (names from code)
