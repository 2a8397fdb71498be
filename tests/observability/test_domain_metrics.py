"""Business metrics: counted when the change commits, never for work that rolls back."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from expsvc.db import Database
from expsvc.observability.domain import note_change_log, note_inbound
from tests.helpers import act, create_experiment, create_run


def samples(text_: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text_)
        for sample in family.samples
        if sample.name == name
    }


def transition(entity: str, action: str, source: str, reason: str) -> tuple[tuple[str, str], ...]:
    labels = {"entity": entity, "action": action, "source": source, "reason": reason}
    return tuple(sorted(labels.items()))


def _history(reason: str | None = "heartbeat_lost") -> dict[str, Any]:
    return {
        "entity_type": "run",
        "to_status": "failed",
        "source": "worker",
        "reason": reason,
    }


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_run_lifecycle_is_counted(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    await act(client, f"/v1/runs/{run['id']}", "start")
    await act(client, f"/v1/runs/{run['id']}", "fail", reason=f"user text {uuid.uuid4()}")

    metrics = (await client.get("/metrics")).text
    created = samples(metrics, "expsvc_entities_created_total")
    assert created[(("entity", "experiment"),)] == 1
    assert created[(("entity", "run"),)] == 1
    moves = samples(metrics, "expsvc_transitions_total")
    assert moves == {
        transition("run", "start", "user", "none"): 1,
        transition("experiment", "start", "system", "first run started"): 1,
        transition("run", "fail", "user", "other"): 1,  # the user's text is not a label
    }
    pool = samples(metrics, "expsvc_db_pool_connections")
    assert set(pool) == {(("state", "in_use"),), (("state", "idle"),)}
    assert samples(metrics, "expsvc_db_pool_waiting_requests") == {(): 0}
    assert samples(metrics, "expsvc_db_pool_max_connections")[()] >= 1


async def test_only_committed_facts_are_counted(app: FastAPI) -> None:
    database: Database = app.state.database
    registry = app.state.metrics.registry
    name = "expsvc_transitions_total"
    labels = {"entity": "run", "action": "fail", "source": "worker"}

    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        note_change_log(session, [_history()], [])
        await session.rollback()
    assert _value(registry, name, reason="heartbeat_lost", **labels) == 0

    async with database.sessionmaker() as session:
        async with session.begin():
            note_change_log(session, [_history()], [])
            async with session.begin_nested() as savepoint:
                note_change_log(session, [_history("telemetry_lost")], [])
                note_inbound(session, "telemetry-ingest", ["applied"])
                await savepoint.rollback()
            async with session.begin_nested():
                note_inbound(session, "telemetry-ingest", ["rejected", "user-chosen"])
        assert _value(registry, name, reason="heartbeat_lost", **labels) == 1
    assert _value(registry, name, reason="telemetry_lost", **labels) == 0
    inbound = "expsvc_inbound_events_total"
    assert _value(registry, inbound, source="telemetry-ingest", outcome="applied") == 0
    assert _value(registry, inbound, source="telemetry-ingest", outcome="rejected") == 1
    assert _value(registry, inbound, source="telemetry-ingest", outcome="other") == 1

    # A session closed with its transaction still open rolls back: nothing counted.
    async with database.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        note_change_log(session, [_history("max_duration_exceeded")], [])
    async with database.sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
    assert _value(registry, name, reason="max_duration_exceeded", **labels) == 0


async def test_a_refused_bulk_change_counts_nothing(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    runs = [await create_run(client, experiment["id"]) for _ in range(2)]
    await act(client, f"/v1/runs/{runs[0]['id']}", "start")
    before = samples((await client.get("/metrics")).text, "expsvc_transitions_total")

    body = {"action": "finish", "ids": [run["id"] for run in runs]}
    refused = await client.post("/v1/runs/bulk/transition", json=body)
    assert refused.status_code == 409, refused.text
    assert samples((await client.get("/metrics")).text, "expsvc_transitions_total") == before

    body = {"action": "finish", "ids": [runs[0]["id"]]}
    assert (await client.post("/v1/runs/bulk/transition", json=body)).status_code == 200
    after = samples((await client.get("/metrics")).text, "expsvc_transitions_total")
    assert after[transition("run", "finish", "user", "none")] == 1
