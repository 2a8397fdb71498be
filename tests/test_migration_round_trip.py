"""Every migration, one at a time, upgrade → downgrade → upgrade on a database holding data
(docs/migrations.md): the downgrade keeps every row and column the previous revision has, and the
upgrade run again rebuilds exactly the schema of its first run.

Data is written at each revision with SQL true to the tables as they are at that revision (the
previous release's writes), so later migrations run over rows written by older code.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from alembic import command
from alembic.script import ScriptDirectory

from expsvc.migrate import alembic_config, head_revision

# What the code at each revision writes, in that revision's tables (several rows of each kind:
# experiments, runs, history, outbox, audit, webhooks, ...). Run again after each round trip, so
# these must be repeatable (fresh ids each time).
_SEEDS: dict[str, tuple[str, ...]] = {
    "0001": (
        "INSERT INTO experiments (id, name, created_by, tags, params)"
        " SELECT gen_random_uuid(), 'seeded ' || g, 'alice', ARRAY['t' || g], '{\"lr\": 0.1}'"
        " FROM generate_series(1, 3) AS g",
    ),
    "0002": (
        "INSERT INTO runs (id, experiment_id, name, created_by, git_sha)"
        " SELECT gen_random_uuid(), id, 'run of ' || name, 'alice', 'abc123' FROM experiments",
        "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor, source)"
        " SELECT 'run', id, 'draft', 'running', 'alice', 'user' FROM runs",
        "INSERT INTO capture_sessions (id, run_id, capture_session_id, created_by)"
        " SELECT gen_random_uuid(), id, 'cs-' || gen_random_uuid(), 'alice' FROM runs LIMIT 2",
        "INSERT INTO idempotency_keys (principal, key, method, path, fingerprint,"
        " response_status, response_headers, response_body, expires_at)"
        " VALUES ('alice', gen_random_uuid()::text, 'POST', '/v1/experiments', 'f', 201, '{}',"
        " '\\x7b7d', now() + interval '1 day')",
    ),
    "0003": (
        "INSERT INTO outbox_events (seq, event_id, type, entity_type, entity_id, occurred_at,"
        " data) SELECT nextval('outbox_event_seq'), gen_random_uuid(), 'run.created', 'run', id,"
        " now(), jsonb_build_object('name', name) FROM runs",
        "INSERT INTO event_sink_cursors (sink, last_seq) VALUES ('redis-' || gen_random_uuid(), 1)",
    ),
    "0004": (
        "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes)"
        " SELECT 'alice', 'user', 'create', 'experiment', id, '{\"name\": [null, \"x\"]}'"
        " FROM experiments",
        "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
        " source, batch_id) SELECT 'experiment', id, 'draft', 'running', 'bob', 'user',"
        " gen_random_uuid() FROM experiments LIMIT 1",
    ),
    "0005": (
        "INSERT INTO webhook_endpoints (id, url, secret, created_by, event_types)"
        " VALUES (gen_random_uuid(), 'https://hooks.example.com/', 'whsec_c2VlZA==', 'alice',"
        " ARRAY['run.created'])",
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload,"
        " max_attempts) SELECT gen_random_uuid(), w.id, o.event_id, o.type, o.data, 5"
        " FROM webhook_endpoints AS w CROSS JOIN (SELECT * FROM outbox_events LIMIT 2) AS o"
        " ON CONFLICT DO NOTHING",
        "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms,"
        " status_code) SELECT id, 1, now(), 12, 500 FROM webhook_deliveries",
    ),
    "0006": (
        "INSERT INTO integration_inbox (source, event_id, event_type, payload, outcome)"
        " VALUES ('telemetry-ingest', gen_random_uuid()::text, 'capture.started', '{}',"
        " 'applied')",
        "INSERT INTO orphan_telemetry (capture_session_id, last_event_id, last_payload)"
        " VALUES ('orphan-' || gen_random_uuid(), 'e1', '{}')",
        "INSERT INTO run_artifacts (id, run_id, artifact_id, uri, kind, reported_at)"
        " SELECT gen_random_uuid(), id, 'a-' || gen_random_uuid(), 's3://bucket/model',"
        " 'model', now() FROM runs LIMIT 2",
        "INSERT INTO capture_reconciliation_reports (started_at, finished_at, report)"
        " VALUES (now(), now(), '{\"checked\": 1}')",
    ),
    "0007": (
        "INSERT INTO experiments (id, name, created_by, heartbeat_timeout_seconds,"
        " max_duration_seconds) VALUES (gen_random_uuid(), 'with limits', 'carol', 30, 3600)",
        "INSERT INTO runs (id, experiment_id, name, created_by, status, started_at,"
        " heartbeat_timeout_seconds) SELECT gen_random_uuid(), id, 'running', 'carol',"
        " 'running', now(), 60 FROM experiments WHERE heartbeat_timeout_seconds IS NOT NULL",
    ),
    "0008": (
        # Without the NOTIFY trigger: an event is written the same way.
        "INSERT INTO outbox_events (event_id, type, entity_type, entity_id, occurred_at, data)"
        " SELECT gen_random_uuid(), 'experiment.created', 'experiment', id, now(), '{}'"
        " FROM experiments LIMIT 1",
    ),
    "0009": (
        "INSERT INTO api_tokens (id, name, token_hash, hint, principal, created_by)"
        " VALUES (gen_random_uuid(), 'ci', sha256(gen_random_uuid()::text::bytea), 'exp_ab',"
        " 'svc-ci', 'admin')",
        "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes,"
        " server_request_id) SELECT 'alice', 'user', 'update', 'run', id, '{}', 'req-1'"
        " FROM runs LIMIT 1",
    ),
    "0010": (
        "INSERT INTO experiment_grants (experiment_id, grantee, role, granted_by)"
        " SELECT id, 'group:ml', 'viewer', 'alice' FROM experiments ON CONFLICT DO NOTHING",
    ),
    "0011": (
        # A legacy plain secret: it fits the narrower column, so the downgrade may narrow it.
        "INSERT INTO webhook_endpoints (id, url, secret, created_by)"
        " VALUES (gen_random_uuid(), 'https://hooks.example.com/2', 'whsec_bGVnYWN5', 'bob')",
    ),
    "0012": (
        # No experiment filter: a filtering webhook makes 0012's downgrade refuse (its own test).
        "INSERT INTO webhook_endpoints (id, url, secret, created_by, experiment_ids)"
        " VALUES (gen_random_uuid(), 'https://hooks.example.com/3', 'whsec_eA==', 'bob', '{}')",
    ),
    "0013": (),  # schema_releases: written by the upgrade to the head itself
    "0014": (),  # indexes only (the run filters')
    "0015": (),  # privileges and trigger firing only
    "0018": (
        # No groups: the downgrade drops them, and a re-upgrade cannot bring them back.
        "INSERT INTO webhook_endpoints (id, url, secret, created_by, owner_groups)"
        " VALUES (gen_random_uuid(), 'https://hooks.example.com/4', 'whsec_eQ==', 'carol', '{}')",
    ),
    "0019": (
        # Through the partitioned parents: now (a month partition or the legacy one) and a year
        # ago (the legacy one). Not in the future: a re-upgrade's legacy bound check must hold.
        "INSERT INTO status_history (entity_type, entity_id, from_status, to_status, actor,"
        " source, created_at) SELECT 'run', id, 'running', 'finished', 'carol', 'user', moment"
        " FROM (SELECT id FROM runs LIMIT 1) AS r,"
        " unnest(ARRAY[now(), now() - interval '1 year']) AS moment",
        "INSERT INTO outbox_events (seq, event_id, type, entity_type, entity_id, occurred_at,"
        " data, created_at) SELECT nextval('outbox_event_seq'), gen_random_uuid(), 'run.finished',"
        " 'run', id, now(), '{}', moment FROM (SELECT id FROM runs LIMIT 1) AS r,"
        " unnest(ARRAY[now(), now() - interval '1 year']) AS moment",
    ),
    "0020": (),  # the partition job's functions only
    "0021": (
        # Through the partitioned parent: now and a year ago (the legacy partition).
        "INSERT INTO audit_log (actor, source, action, entity_type, entity_id, changes,"
        " occurred_at) SELECT 'carol', 'user', 'update', 'experiment', id, '{}', moment"
        " FROM (SELECT id FROM experiments LIMIT 1) AS e,"
        " unnest(ARRAY[now(), now() - interval '1 year']) AS moment",
    ),
    "0022": (
        # A run archived from draft: it never started, which the lifecycle checks allow.
        "INSERT INTO runs (id, experiment_id, name, created_by, status, archived_at)"
        " SELECT gen_random_uuid(), id, 'archived draft', 'carol', 'archived', now()"
        " FROM experiments LIMIT 1",
    ),
    "0023": (
        # A capture session with sensors: the triggers put them on its run (runs.sensors).
        "INSERT INTO capture_sessions (id, run_id, capture_session_id, created_by, sensors)"
        " SELECT gen_random_uuid(), id, 'cs-' || gen_random_uuid(), 'carol', ARRAY['lidar-1']"
        " FROM runs LIMIT 1",
    ),
    "0024": (),  # the head walk's indexes only
    "0025": (
        # Through the partitioned parents: now and a year ago (the legacy partitions); an
        # attempt for each delivery without one, none without its delivery (the downgrade does
        # not copy those back).
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload,"
        " max_attempts, created_at) SELECT gen_random_uuid(), w.id, gen_random_uuid(),"
        " 'run.created', '{}', 5, moment FROM (SELECT id FROM webhook_endpoints LIMIT 1) AS w,"
        " unnest(ARRAY[now(), now() - interval '1 year']) AS moment",
        "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at, duration_ms,"
        " status_code) SELECT d.id, 1, d.created_at, 12, 200 FROM webhook_deliveries AS d"
        " WHERE NOT EXISTS (SELECT FROM webhook_delivery_attempts AS a"
        " WHERE a.delivery_id = d.id)",
    ),
    "0026": (
        # Started before it was created, as a transaction older than the run writes it: the
        # trigger puts it in order (and a re-upgrade finds nothing out of order).
        "INSERT INTO runs (id, experiment_id, name, created_by, status, started_at)"
        " SELECT gen_random_uuid(), id, 'started early', 'carol', 'running',"
        " now() - interval '1 minute' FROM experiments LIMIT 1",
    ),
    "0027": (
        # A tag set no run had, inserted and edited to: the triggers note both (run_tag_sets).
        "INSERT INTO runs (id, experiment_id, name, created_by, tags)"
        " SELECT gen_random_uuid(), id, 'new tags', 'carol', ARRAY['t-' || gen_random_uuid()]"
        " FROM experiments LIMIT 1",
        "UPDATE runs SET tags = ARRAY['edited-' || gen_random_uuid()] WHERE name = 'new tags'",
    ),
    "0028": (),  # a creator's indexes in each order only
}

# Rows a downgrade adds on purpose, as _data shows them. 0027's keeps run_tag_sets with a row
# that says the sets are no longer kept (code that still asks it must not get a stale answer).
_DOWNGRADE_ADDS: dict[str, dict[str, list[str]]] = {"0027": {"run_tag_sets": ['{"tags": null}']}}

# The shape of the schema, to compare a second upgrade with the first.
_SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, character_maximum_length,"
    " is_nullable, column_default FROM information_schema.columns"
    " WHERE table_schema = 'public'",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
    "triggers": "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger"
    " WHERE NOT tgisinternal",
    "functions": "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    "invalid indexes": "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid",
}


def _fetch(url: str, *statements: str) -> list[list[asyncpg.Record]]:
    async def run() -> list[list[asyncpg.Record]]:
        connection = await asyncpg.connect(url)
        try:
            return [list(await connection.fetch(statement)) for statement in statements]
        finally:
            await connection.close()

    return asyncio.run(run())


def _schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    results = _fetch(url, *_SCHEMA.values())
    return {
        name: sorted(tuple(row) for row in rows)
        for name, rows in zip(_SCHEMA, results, strict=True)
    }


def _data(url: str) -> dict[str, list[str]]:
    """Every public table's rows (a partitioned one's through its parent), each as canonical
    JSON, sorted; not alembic_version, nor schema_releases: each upgrade that reaches the head
    records itself there anew (ADR 0017)."""
    (tables,) = _fetch(
        url,
        # Partitions are read through their parent (empty months ahead are no missing data).
        "SELECT relname AS tablename FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        " AND relkind IN ('r', 'p') AND NOT relispartition"
        " AND relname NOT IN ('alembic_version', 'schema_releases')",
    )
    names = sorted(row["tablename"] for row in tables)
    # Table names from the catalogue, not from input.
    query = 'SELECT to_jsonb(t)::text AS row FROM "{}" AS t'
    results = _fetch(url, *(query.format(name) for name in names))
    return {
        name: sorted(json.dumps(json.loads(row["row"]), sort_keys=True) for row in rows)
        for name, rows in zip(names, results, strict=True)
    }


def _restricted(data: dict[str, list[str]], shape: dict[str, list[str]]) -> dict[str, list[str]]:
    """``data`` cut to the tables and columns of ``shape`` (another revision's _data)."""
    columns = {
        table: set().union(*(json.loads(row) for row in rows)) if rows else set()
        for table, rows in shape.items()
    }
    return {
        table: sorted(
            json.dumps({k: v for k, v in json.loads(row).items() if k in columns[table]})
            for row in rows
        )
        for table, rows in data.items()
        if table in columns
    }


def _upgrade(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def _downgrade(url: str, revision: str) -> None:
    """Alembic's own API, not ``expsvc db downgrade``: the CLI may ask for confirmation (or
    ``--force``) past some migrations; this test goes through every one. If a migration's own
    downgrade comes to need a flag, pass it here."""
    command.downgrade(alembic_config(url), revision)


def _revisions() -> list[tuple[str, str]]:
    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [(s.revision, s.down_revision or "base") for s in reversed(list(scripts))]


def test_the_seeds_cover_every_revision() -> None:
    assert [revision for revision, _ in _revisions()] == list(_SEEDS)
    assert list(_SEEDS)[-1] == head_revision()


def test_every_revision_round_trips_on_a_database_with_data(database_url: str) -> None:
    _downgrade(database_url, "base")
    for revision, previous in _revisions():
        _upgrade(database_url, revision)
        _fetch(database_url, *_SEEDS[revision])
        first_schema, first_data = _schema(database_url), _data(database_url)
        assert first_schema["invalid indexes"] == [], revision

        _downgrade(database_url, previous)
        after_downgrade = _data(database_url)
        # Nothing the previous revision holds is lost or changed by the downgrade (but the
        # rows it adds on purpose).
        added = _DOWNGRADE_ADDS.get(revision, {})
        kept = {
            table: [row for row in rows if row not in added.get(table, [])]
            for table, rows in after_downgrade.items()
        }
        assert kept == _restricted(first_data, after_downgrade), revision
        assert all(set(rows) <= set(after_downgrade[table]) for table, rows in added.items())

        _upgrade(database_url, revision)
        assert _schema(database_url) == first_schema, revision
        again = _data(database_url)
        # The upgrade keeps what the downgrade kept and removes what it added.
        assert _restricted(again, after_downgrade) == kept, revision
        _fetch(database_url, *_SEEDS[revision])  # the next revision migrates this one's rows

    counts = {table: len(rows) for table, rows in _data(database_url).items()}
    assert min(counts.values()) > 0, counts  # every table of the head held data
