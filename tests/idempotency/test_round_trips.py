"""A keyed write ends with one statement: its change log and its stored response together."""

from __future__ import annotations

import contextlib

import httpx
from fastapi import FastAPI

from tests.helpers import create_experiment
from tests.statements import sent_statements


def statements(app: FastAPI) -> contextlib.AbstractContextManager[list[str]]:
    """The SQL statements the app sends meanwhile (BEGIN/COMMIT are not among them)."""
    return sent_statements(app.state.database.engine)


def kinds(sent: list[str]) -> list[str]:
    """What each statement does, by the tables it writes."""
    named = []
    for statement in sent:
        if "pg_try_advisory_xact_lock" in statement and "idempotency_keys" in statement:
            named.append("claim")
        elif statement.startswith("WITH history AS") and "UPDATE idempotency_keys" in statement:
            named.append("change log + stored response")
        elif statement.startswith("WITH history AS"):
            named.append("change log")
        elif statement.startswith("UPDATE idempotency_keys"):
            named.append("stored response")
        else:
            named.append("other")
    return named


async def test_a_keyed_create_writes_its_change_log_with_its_stored_response(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    experiment = await create_experiment(client)
    with statements(app) as sent:
        response = await client.post(
            f"/v1/experiments/{experiment['id']}/runs",
            json={"name": "r"},
            headers={"Idempotency-Key": "k-create"},
        )
    assert response.status_code == 201, response.text
    assert kinds(sent) == ["claim", "other", "change log + stored response"], sent

    # The rows are there: the audit entry and the event of that create.
    run_id = response.json()["id"]
    audit = await client.get("/v1/audit", params={"entity_id": run_id})
    assert [entry["action"] for entry in audit.json()["items"]] == ["create"]
    replay = await client.post(
        f"/v1/experiments/{experiment['id']}/runs",
        json={"name": "r"},
        headers={"Idempotency-Key": "k-create"},
    )
    assert replay.json() == response.json()


async def test_a_keyed_run_start_writes_both_changes_with_its_stored_response(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    experiment = await create_experiment(client)  # a draft: the run's start starts it too
    run = (await client.post(f"/v1/experiments/{experiment['id']}/runs", json={"name": "r"})).json()
    with statements(app) as sent:
        response = await client.post(
            f"/v1/runs/{run['id']}/start", headers={"Idempotency-Key": "k-start"}
        )
    assert response.status_code == 200, response.text
    assert kinds(sent).count("change log + stored response") == 1, sent
    assert "change log" not in kinds(sent), sent
    history = await client.get(f"/v1/experiments/{experiment['id']}/history")
    assert [h["to_status"] for h in history.json()["items"]] == ["running"]
    history = await client.get(f"/v1/runs/{run['id']}/history")
    assert [h["to_status"] for h in history.json()["items"]] == ["running"]


async def test_without_a_key_or_with_a_refusal_the_change_log_is_written_as_before(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    experiment = await create_experiment(client)
    with statements(app) as sent:
        response = await client.post(
            f"/v1/experiments/{experiment['id']}/runs", json={"name": "unkeyed"}
        )
    assert response.status_code == 201
    assert kinds(sent) == ["other", "change log"], sent

    # A keyed request that fails writes nothing and stores nothing: the key can be used again.
    refused = await client.post(
        "/v1/experiments/00000000-0000-7000-8000-000000000000/runs",
        json={"name": "r"},
        headers={"Idempotency-Key": "k-missing"},
    )
    assert refused.status_code == 404
    created = await client.post(
        f"/v1/experiments/{experiment['id']}/runs",
        json={"name": "r"},
        headers={"Idempotency-Key": "k-missing"},
    )
    assert created.status_code == 201, created.text  # the failed claim was rolled back
