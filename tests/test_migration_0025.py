"""Migration 0025 (ADR 0020's contract step): webhook deliveries and their attempts become
partitioned by month with the old tables attached as partitions (no copy) while 0.2.0 fans out
and records attempts, before, during and after it; a re-run after an interruption completes it;
the downgrade copies back."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc

from expsvc.migrate import downgrade, upgrade
from expsvc.partition.service import month_start
from tests.conftest import OWNER_ROLE, role_url, runtime_url
from tests.partition.support import model_differences, partitions, relfilenodes, sql

TABLES = ("webhook_deliveries", "webhook_delivery_attempts")
_ENDPOINT = (
    "INSERT INTO webhook_endpoints (id, url, secret, created_by) VALUES"
    " (gen_random_uuid(), 'https://hooks.example.com/', 'whsec_x', 'owner') RETURNING id"
)
# 0.2.0's fan-out, as its DeliveryRepository.fan_out sends it (an executemany in the relay's
# transaction, after it read the active endpoints): no conflict target.
_OLD_RELEASE_SUBSCRIBED = "SELECT id, event_types, created_at FROM webhook_endpoints WHERE active"
_OLD_RELEASE_FAN_OUT = (
    "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload,"
    " max_attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING"
)
# 0.2.0's delivery worker recording an attempt: the endpoint, then the delivery locked, the
# attempt logged, the delivery's and the endpoint's state changed, in one transaction.
_OLD_RELEASE_RECORD = (
    "SELECT * FROM webhook_endpoints WHERE id = $1 FOR NO KEY UPDATE",
    "SELECT * FROM webhook_deliveries WHERE id = $1 FOR NO KEY UPDATE",
    "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, manual, started_at,"
    " duration_ms, status_code, error, response_body) VALUES ($1, $2, false, now(), 12, 500,"
    " 'the receiver answered 500', 'boom')",
    "UPDATE webhook_deliveries SET status = 'pending', attempts = $2,"
    " next_attempt_at = now() + interval '1 minute', last_status_code = 500 WHERE id = $1",
    "UPDATE webhook_endpoints SET failing_since = now() WHERE id = $1",
)


def _kinds(url: str) -> dict[str, str]:
    rows = asyncio.run(
        sql(
            url,
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY($1::text[])",
            list(TABLES),
        )
    )
    return {row["relname"]: row["relkind"] for row in rows}


def test_at_head_both_tables_are_partitioned_as_the_models_say(database_url: str) -> None:
    assert model_differences(database_url, TABLES) == []
    assert _kinds(database_url) == dict.fromkeys(TABLES, "p")
    for table in TABLES:
        names = asyncio.run(partitions(database_url, table))
        assert f"{table}_legacy" in names
        assert len(names) >= 3  # the legacy partition and two months after its bound
    # Nothing unique on (endpoint_id, event_id), no foreign key from attempts to deliveries.
    constraints = asyncio.run(
        sql(
            database_url,
            "SELECT conname FROM pg_constraint WHERE conrelid = ANY($1::regclass[])",
            list(TABLES),
        )
    )
    assert {row["conname"] for row in constraints} == {
        "pk_webhook_deliveries",
        "pk_webhook_delivery_attempts",
        "ck_webhook_deliveries_status",
        "fk_webhook_deliveries_endpoint_id_webhook_endpoints",
    }


@dataclass
class _Writes:
    fanned_out: int = 0
    recorded: int = 0
    during: int = 0
    slowest: float = 0.0
    errors: list[str] = field(default_factory=list)


def test_the_previous_release_fans_out_and_records_throughout_the_conversion(
    database_url: str,
) -> None:
    """ADR 0020's step 3: 0.2.0's fan-out on the plain table, the migration while it fans out
    (and its worker logs attempts), the same statements on the partitioned table."""
    downgrade(role_url(database_url, OWNER_ROLE), "0024")
    assert _kinds(database_url) == dict.fromkeys(TABLES, "r")
    before = asyncio.run(relfilenodes(database_url, TABLES))
    writes = asyncio.run(_write_while_upgrading(database_url))

    print(
        f"[0025] {writes.during} writes during the conversion,"
        f" slowest {writes.slowest * 1000:.0f} ms"
    )
    assert writes.errors == []
    assert writes.during >= 10  # they did overlap the conversion
    assert writes.slowest < 2.0, f"a write waited {writes.slowest:.2f}s"
    assert _kinds(database_url) == dict.fromkeys(TABLES, "p")
    after = asyncio.run(relfilenodes(database_url, TABLES))
    for table in TABLES:
        # The legacy partition is the old table itself: not copied, not rewritten.
        assert after[f"{table}_legacy"] == before[table]
    (counts,) = asyncio.run(
        sql(
            database_url,
            "SELECT (SELECT count(DISTINCT id) FROM webhook_deliveries) AS deliveries,"
            " (SELECT count(DISTINCT id) FROM webhook_delivery_attempts) AS attempts",
        )
    )
    assert (counts["deliveries"], counts["attempts"]) == (writes.fanned_out, writes.recorded)
    assert model_differences(database_url, TABLES) == []


async def _write_while_upgrading(url: str) -> _Writes:
    """0.2.0's fan-out and attempt log, each on one connection of the runtime role with its
    statement cache, before, during and after ``upgrade``."""
    (endpoint,) = await sql(url, _ENDPOINT)
    fan_out = await asyncpg.connect(runtime_url(url))
    record = await asyncpg.connect(runtime_url(url))
    writes = _Writes()
    # Some deliveries on the plain table first: the worker logs attempts of these throughout.
    await _fan_out(fan_out, endpoint["id"], writes, upgrading=None)
    (first,) = await sql(url, "SELECT id FROM webhook_deliveries LIMIT 1")
    upgrading = asyncio.create_task(asyncio.to_thread(upgrade, role_url(url, OWNER_ROLE)))
    try:
        await asyncio.gather(
            _fan_out(fan_out, endpoint["id"], writes, upgrading),
            _record(record, endpoint["id"], first["id"], writes, upgrading),
        )
        await upgrading
    finally:
        await fan_out.close()
        await record.close()
    return writes


async def _timed(writes: _Writes, upgrading: asyncio.Task[None] | None, write: Any) -> bool:
    """Run one write; whether it was done while the upgrade ran."""
    running = upgrading is not None and not upgrading.done()
    started = time.monotonic()
    try:
        await write()
    except asyncpg.PostgresError as error:
        writes.errors.append(repr(error))
        return False
    finally:
        writes.slowest = max(writes.slowest, time.monotonic() - started)
    writes.during += running
    return True


async def _fan_out(
    connection: asyncpg.Connection,
    endpoint: uuid.UUID,
    writes: _Writes,
    upgrading: asyncio.Task[None] | None,
) -> None:
    async def one_batch() -> None:
        async with connection.transaction():
            await connection.fetch(_OLD_RELEASE_SUBSCRIBED)
            await connection.executemany(
                _OLD_RELEASE_FAN_OUT,
                [(uuid.uuid4(), endpoint, uuid.uuid4(), "run.created", "{}", 5) for _ in range(2)],
            )

    done_after = 0
    while True:
        finished = upgrading is None or upgrading.done()
        if await _timed(writes, upgrading, one_batch):
            writes.fanned_out += 2
            done_after += finished
        if finished and done_after >= 25:
            return
        await asyncio.sleep(0.002)


async def _record(
    connection: asyncpg.Connection,
    endpoint: uuid.UUID,
    delivery: uuid.UUID,
    writes: _Writes,
    upgrading: asyncio.Task[None],
) -> None:
    async def one_attempt() -> None:
        async with connection.transaction():
            for statement in _OLD_RELEASE_RECORD:
                arguments: tuple[Any, ...] = (delivery,)
                if "webhook_endpoints" in statement:
                    arguments = (endpoint,)
                elif "$2" in statement:
                    arguments = (delivery, writes.recorded + 1)
                await connection.fetch(statement, *arguments)

    done_after = 0
    while True:
        finished = upgrading.done()
        if await _timed(writes, upgrading, one_attempt):
            writes.recorded += 1
            done_after += finished
        if finished and done_after >= 25:
            return
        await asyncio.sleep(0.002)


def test_a_rerun_after_an_interruption_completes(database_url: str) -> None:
    """Interrupted after the attempts' foreign key went and the deliveries' bound check was
    added, with the deliveries' plain index left INVALID by a failed build."""
    owner = role_url(database_url, OWNER_ROLE)
    downgrade(owner, "0024")
    bound = month_start(datetime.now(UTC), 2)

    async def interrupt() -> None:
        connection = await asyncpg.connect(owner)
        try:
            await connection.execute(
                "ALTER TABLE webhook_delivery_attempts DROP CONSTRAINT"
                " fk_webhook_delivery_attempts_delivery_id_webhook_deliveries"
            )
            # As the migration writes it; its bound (two months on here) becomes the legacy's.
            await connection.execute(
                "ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_legacy_bound"
                f" CHECK (created_at < '{bound.isoformat()}') NOT VALID"
            )
            (endpoint,) = await connection.fetch(_ENDPOINT)
            await connection.execute(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload,"
                " max_attempts) SELECT gen_random_uuid(), $1, gen_random_uuid(), 'twice', '{}',"
                " 5 FROM generate_series(1, 2)",
                endpoint["id"],
            )
            # A unique build over duplicate values fails and leaves an INVALID index.
            with contextlib.suppress(asyncpg.UniqueViolationError):
                await connection.execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY"
                    " webhook_deliveries_legacy_endpoint_id_event_id ON webhook_deliveries"
                    " (event_type)"
                )
        finally:
            await connection.close()

    asyncio.run(interrupt())
    upgrade(owner)
    legacy = asyncio.run(partitions(database_url, "webhook_deliveries"))
    assert legacy["webhook_deliveries_legacy"] == bound
    assert model_differences(database_url, TABLES) == []
    (index,) = asyncio.run(
        sql(
            database_url,
            "SELECT indisvalid, pg_get_indexdef(indexrelid) AS definition FROM pg_index"
            " WHERE indexrelid = 'webhook_deliveries_legacy_endpoint_id_event_id'::regclass",
        )
    )
    assert index["indisvalid"]
    assert index["definition"].endswith("(endpoint_id, event_id)")
    (counted,) = asyncio.run(
        sql(database_url, "SELECT count(*) FROM webhook_deliveries WHERE event_type = 'twice'")
    )
    assert counted["count"] == 2


def test_the_downgrade_copies_the_rows_back_into_plain_tables(database_url: str) -> None:
    owner, runtime = role_url(database_url, OWNER_ROLE), runtime_url(database_url)

    async def deliver_once(attempts: int) -> uuid.UUID:
        """A delivery and its attempts, written as the runtime role (ids from the tables)."""
        (endpoint,) = await sql(database_url, _ENDPOINT)
        (delivery,) = await sql(
            runtime,
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload,"
            " max_attempts) VALUES (gen_random_uuid(), $1, gen_random_uuid(), 'run.created',"
            " '{}', 5) RETURNING id",
            endpoint["id"],
        )
        await sql(
            runtime,
            "INSERT INTO webhook_delivery_attempts (delivery_id, attempt, started_at,"
            " duration_ms) SELECT $1, n, now(), 12 FROM generate_series(1, $2::int) AS n",
            delivery["id"],
            attempts,
        )
        return uuid.UUID(str(delivery["id"]))

    kept = asyncio.run(deliver_once(2))
    gone = asyncio.run(deliver_once(1))
    # Its endpoint deleted: the delivery cascades, its attempt stays (no foreign key on it).
    asyncio.run(
        sql(
            database_url,
            "DELETE FROM webhook_endpoints WHERE id ="
            " (SELECT endpoint_id FROM webhook_deliveries WHERE id = $1)",
            gone,
        )
    )
    downgrade(owner, "0024")
    assert _kinds(database_url) == dict.fromkeys(TABLES, "r")
    attempts = asyncio.run(
        sql(database_url, "SELECT id, delivery_id FROM webhook_delivery_attempts ORDER BY id")
    )
    # The orphan attempt (0024's foreign key would have deleted it) is not copied back.
    assert [(row["id"], row["delivery_id"]) for row in attempts] == [(1, kept), (2, kept)]
    asyncio.run(deliver_once(1))  # the identity goes on after the copied ids; grants copied
    (last,) = asyncio.run(sql(database_url, "SELECT max(id) FROM webhook_delivery_attempts"))
    assert last["max"] == 3

    upgrade(owner)
    assert model_differences(database_url, TABLES) == []
    asyncio.run(deliver_once(1))
    (counted,) = asyncio.run(sql(database_url, "SELECT count(*) FROM webhook_delivery_attempts"))
    assert counted["count"] == 4


def test_the_downgrade_refuses_two_deliveries_of_one_event_to_one_endpoint(
    database_url: str,
) -> None:
    async def fan_out_twice() -> None:
        (endpoint,) = await sql(database_url, _ENDPOINT)
        event = uuid.uuid4()
        connection = await asyncpg.connect(runtime_url(database_url))
        try:
            for _ in range(2):  # nothing arbitrates a repeat on the partitioned table
                row = (uuid.uuid4(), endpoint["id"], event, "run.created", "{}", 5)
                await connection.execute(_OLD_RELEASE_FAN_OUT, *row)
        finally:
            await connection.close()

    asyncio.run(fan_out_twice())
    refused = "two deliveries of one event to one endpoint"
    with pytest.raises(sqlalchemy.exc.DBAPIError, match=refused):
        downgrade(role_url(database_url, OWNER_ROLE), "0024")
    assert _kinds(database_url) == dict.fromkeys(TABLES, "p")  # nothing half done
