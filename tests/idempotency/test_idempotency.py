"""Idempotency-Key on POST, through HTTP: replay, conflicts, concurrency, expiry and purging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from expsvc import cli
from expsvc.app import create_app
from expsvc.db import Database
from expsvc.idempotency.purge import purge_expired_keys
from expsvc.idempotency.repository import PURGE_LOCK_ID, IdempotencyRepository
from tests.conftest import header_identity, make_settings
from tests.problems import assert_problem

KEY = "Idempotency-Key"
REPLAYED = "idempotent-replayed"


def keyed(key: str | bytes) -> dict[str, Any]:
    return {KEY: key}


async def fetch(database_url: str, query: str, *args: object) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def count(database_url: str, table: str) -> int:
    value: int = await fetch(database_url, f"SELECT count(*) FROM {table}")  # noqa: S608
    return value


@asynccontextmanager
async def client_for(database_url: str, **overrides: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app built with these settings overrides."""
    app = create_app(make_settings(database_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_same_key_and_body_replays_the_stored_response(
    client: httpx.AsyncClient, database_url: str
) -> None:
    body = {"name": "resnet", "params": {"lr": 0.1, "layers": [1, 2]}}
    first = await client.post("/v1/experiments", json=body, headers=keyed("k-1"))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers

    # The same JSON object serialised differently is the same request.
    reordered = orjson.dumps({"params": {"layers": [1, 2], "lr": 0.1}, "name": "resnet"})
    headers = {**keyed("k-1"), "content-type": "application/json"}
    second = await client.post("/v1/experiments", content=reordered, headers=headers)

    assert second.status_code == 201
    assert second.headers[REPLAYED] == "true"
    assert second.content == first.content
    for header in ("content-type", "etag", "location"):
        assert second.headers[header] == first.headers[header]
    assert await count(database_url, "experiments") == 1
    assert await count(database_url, "idempotency_keys") == 1


async def test_same_key_with_another_request_is_422(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/experiments", json={"name": "a"}, headers=keyed("k"))
    assert first.status_code == 201

    other_body = await client.post("/v1/experiments", json={"name": "b"}, headers=keyed("k"))
    problem = assert_problem(other_body, 422, "idempotency-key-reused")
    assert "POST /v1/experiments" in problem["detail"]

    other_path = await client.post(
        "/v1/runs", json={"name": "a", "experiment_id": first.json()["id"]}, headers=keyed("k")
    )
    assert_problem(other_path, 422, "idempotency-key-reused")


async def test_keys_are_scoped_to_the_principal(database_url: str) -> None:
    async with client_for(database_url, **header_identity("X-User")) as http:
        body = {"name": "shared"}
        alice = await http.post(
            "/v1/experiments", json=body, headers={**keyed("k"), "X-User": "alice"}
        )
        bob = await http.post("/v1/experiments", json=body, headers={**keyed("k"), "X-User": "bob"})
        again = await http.post(
            "/v1/experiments", json=body, headers={**keyed("k"), "X-User": "alice"}
        )

    assert alice.status_code == bob.status_code == 201
    assert REPLAYED not in bob.headers
    assert bob.json()["id"] != alice.json()["id"]
    assert bob.json()["created_by"] == "bob"
    assert again.headers[REPLAYED] == "true"
    assert again.json() == alice.json()
    assert await count(database_url, "experiments") == 2


async def test_concurrent_identical_creates_make_one_experiment(database_url: str) -> None:
    async with client_for(database_url, db_pool_size=25) as http:
        responses = await asyncio.gather(
            *(
                http.post("/v1/experiments", json={"name": "once"}, headers=keyed("race"))
                for _ in range(20)
            )
        )
        after = await http.post("/v1/experiments", json={"name": "once"}, headers=keyed("race"))

    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if REPLAYED not in r.headers]
    assert len(originals) == 1
    assert {r.content for r in created} == {originals[0].content}
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409, "idempotency-key-in-flight")
            assert int(response.headers["retry-after"]) >= 1
    assert after.headers[REPLAYED] == "true"
    assert after.content == originals[0].content
    assert await count(database_url, "experiments") == 1


async def test_concurrent_identical_run_creates_and_starts_happen_once(
    database_url: str,
) -> None:
    async with client_for(database_url, db_pool_size=25) as http:
        experiment = (await http.post("/v1/experiments", json={"name": "e"})).json()
        path = f"/v1/experiments/{experiment['id']}/runs"
        creates = await asyncio.gather(
            *(http.post(path, json={"name": "r"}, headers=keyed("run")) for _ in range(20))
        )
        run_ids = {r.json()["id"] for r in creates if r.status_code == 201}
        assert len(run_ids) == 1
        run_id = run_ids.pop()
        starts = await asyncio.gather(
            *(http.post(f"/v1/runs/{run_id}/start", headers=keyed("start")) for _ in range(20))
        )

    assert {r.status_code for r in creates + starts} <= {200, 201, 409}
    started = {r.content for r in starts if r.status_code == 200}
    assert len(started) == 1
    assert orjson.loads(started.pop())["status"] == "running"
    assert await count(database_url, "runs") == 1
    history = await fetch(
        database_url,
        "SELECT count(*) FROM status_history WHERE entity_id = $1 AND to_status = 'running'",
        run_id,
    )
    assert history == 1


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "", "has space", "ключ".encode(), b"tab\tinside"],
    ids=["too-long", "empty", "space", "non-ascii", "control"],
)
async def test_malformed_key_is_400(client: httpx.AsyncClient, key: str | bytes) -> None:
    response = await client.post("/v1/experiments", json={"name": "x"}, headers=keyed(key))
    assert_problem(response, 400, "invalid-idempotency-key")


async def test_longest_key_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/experiments", json={"name": "x"}, headers=keyed("k" * 255))
    assert response.status_code == 201


async def test_failed_request_is_not_stored_so_a_corrected_retry_runs(
    client: httpx.AsyncClient, database_url: str
) -> None:
    invalid = await client.post("/v1/experiments", json={"name": ""}, headers=keyed("fix-me"))
    assert_problem(invalid, 422, "validation-error")
    assert await count(database_url, "idempotency_keys") == 0

    fixed = await client.post("/v1/experiments", json={"name": "ok"}, headers=keyed("fix-me"))
    assert fixed.status_code == 201
    assert REPLAYED not in fixed.headers
    assert await count(database_url, "idempotency_keys") == 1


async def test_expired_key_runs_the_request_again(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first = await client.post("/v1/experiments", json={"name": "x"}, headers=keyed("old"))
    await fetch(database_url, "UPDATE idempotency_keys SET expires_at = now() - interval '1 s'")

    second = await client.post("/v1/experiments", json={"name": "x"}, headers=keyed("old"))
    third = await client.post("/v1/experiments", json={"name": "x"}, headers=keyed("old"))

    assert second.status_code == 201
    assert REPLAYED not in second.headers
    assert second.json()["id"] != first.json()["id"]
    assert third.headers[REPLAYED] == "true"
    assert third.content == second.content
    assert await count(database_url, "experiments") == 2


async def test_keys_expire_after_the_configured_ttl(database_url: str) -> None:
    async with client_for(database_url, idempotency_ttl_hours=36) as http:
        await http.post("/v1/experiments", json={"name": "x"}, headers=keyed("ttl"))
    hours = await fetch(
        database_url,
        "SELECT extract(epoch FROM expires_at - created_at) / 3600 FROM idempotency_keys",
    )
    assert float(hours) == pytest.approx(36)


async def test_requests_without_a_key_are_not_deduplicated(
    client: httpx.AsyncClient, database_url: str
) -> None:
    first = await client.post("/v1/experiments", json={"name": "x"})
    second = await client.post("/v1/experiments", json={"name": "x"})

    assert first.status_code == second.status_code == 201
    assert REPLAYED not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert await count(database_url, "idempotency_keys") == 0


async def test_key_is_ignored_on_other_methods(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/experiments", headers=keyed("not a valid key"))
    assert response.status_code == 200


async def _insert_keys(database_url: str, expired: int, live: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            INSERT INTO idempotency_keys (principal, key, method, path, fingerprint,
                response_status, response_headers, response_body, expires_at)
            SELECT 'p', 'k' || i, 'POST', '/v1/experiments', 'f', 201, '{}', '',
                CASE WHEN i <= $1::int THEN now() - interval '1 h' ELSE now() + interval '1 h' END
            FROM generate_series(1, $1::int + $2::int) AS i
            """,
            expired,
            live,
        )
    finally:
        await connection.close()


async def test_repository_purges_one_batch_of_expired_keys(app: FastAPI, database_url: str) -> None:
    await _insert_keys(database_url, expired=5, live=2)
    database: Database = app.state.database
    async with database.sessionmaker() as session, session.begin():
        assert await IdempotencyRepository(session).purge_expired(batch_size=3) == 3
    assert await count(database_url, "idempotency_keys") == 4


async def test_purge_deletes_every_expired_key_in_batches(app: FastAPI, database_url: str) -> None:
    await _insert_keys(database_url, expired=7, live=2)

    assert await purge_expired_keys(app.state.database, batch_size=3) == 7
    assert await count(database_url, "idempotency_keys") == 2
    assert await purge_expired_keys(app.state.database) == 0


async def test_purge_skips_while_another_process_purges(app: FastAPI, database_url: str) -> None:
    await _insert_keys(database_url, expired=1, live=0)
    holder = await asyncpg.connect(database_url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", PURGE_LOCK_ID)
        assert await purge_expired_keys(app.state.database) is None
    finally:
        await holder.close()
    assert await purge_expired_keys(app.state.database) == 1


def test_cli_purges_expired_keys(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_insert_keys(database_url, expired=3, live=1))
    monkeypatch.setenv("EXPSVC_DATABASE_URL", database_url)

    result = CliRunner().invoke(cli.app, ["idempotency", "purge", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "purged 3 expired idempotency keys" in result.output
    assert asyncio.run(count(database_url, "idempotency_keys")) == 1


async def test_running_app_purges_periodically(database_url: str) -> None:
    await _insert_keys(database_url, expired=2, live=1)
    async with client_for(database_url, idempotency_purge_interval_seconds=0.05):
        async with asyncio.timeout(10):
            while True:  # poll with a deadline: the task runs on its own schedule
                if await count(database_url, "idempotency_keys") == 1:
                    break
                await asyncio.sleep(0.05)
        assert any(t.get_name() == "idempotency-purge" for t in asyncio.all_tasks())
    assert not any(t.get_name() == "idempotency-purge" for t in asyncio.all_tasks())


async def test_purge_interval_zero_starts_no_task(database_url: str) -> None:
    async with client_for(database_url, idempotency_purge_interval_seconds=0):
        assert not any(t.get_name() == "idempotency-purge" for t in asyncio.all_tasks())


def _operations(schema: dict[str, Any], method: str) -> list[dict[str, Any]]:
    return [
        item[method]
        for path, item in schema["paths"].items()
        if path.startswith("/v1/") and method in item
    ]


async def test_openapi_declares_the_key_and_its_errors_on_posts(app: FastAPI) -> None:
    schema = app.openapi()
    posts = _operations(schema, "post")
    # Operations that are harmless to repeat ignore the key and say so (RepeatableRoute).
    ignoring = [op for op in posts if op.get("x-idempotency-key") == "ignored"]
    for operation in ignoring:
        assert KEY not in [p["name"] for p in operation.get("parameters", [])]
    posts = [op for op in posts if op not in ignoring]
    assert posts
    for operation in posts:
        headers = [p for p in operation["parameters"] if p["name"] == KEY]
        assert len(headers) == 1, operation["operationId"]
        assert headers[0]["in"] == "header"
        assert not headers[0].get("required", False)
        # A header is a string or absent, never null: no anyOf [string, null].
        assert headers[0]["schema"]["type"] == "string"
        assert headers[0]["schema"]["maxLength"] == 255
        assert headers[0]["schema"]["pattern"] == "^[\\x21-\\x7e]{1,255}$"
        for status in ("400", "409", "422"):
            assert status in operation["responses"], operation["operationId"]
        assert "Idempotency key in flight" in operation["responses"]["409"]["description"]
    for operation in _operations(schema, "get"):
        names = [p["name"] for p in operation.get("parameters", [])]
        assert KEY not in names


async def test_oversized_streamed_body_with_a_key_is_413(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1100):
            yield b" " * 1024

    headers = {**keyed("big"), "content-type": "application/json"}
    response = await client.post("/v1/experiments", content=chunks(), headers=headers)

    assert_problem(response, 413, "payload-too-large")
    assert "unhandled error" not in capsys.readouterr().out
