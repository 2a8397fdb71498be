"""Entities answered straight from rows are byte for byte what their read models would give."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from expsvc.capture.schemas import CapturePage, CaptureRead
from expsvc.db import async_database_url
from expsvc.experiment.schemas import ExperimentPage, ExperimentRead
from expsvc.models import capture_sessions, experiments, runs
from expsvc.run.schemas import RunPage, RunRead
from tests.helpers import create_experiment

VARIED = {
    "tags": ["team:vision", "a-b", "x"],
    "params": {
        "lr": 0.1,
        "name": 'ünïcode "quoted"',
        "big": 9007199254740993,
        "nested": {"list": [1, 2.5, None, "s"]},
    },
    "participants": ["ana", "bo"],
    "git_sha": "0123456789abcdef0123456789abcdef01234567",
    "git_branch": "feature/ä",
    "heartbeat_timeout_seconds": 60,
}


async def _rows(database_url: str) -> list[object]:
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            query = select(runs).order_by(runs.c.created_at.desc(), runs.c.id.desc())
            return list((await connection.execute(query)).all())
    finally:
        await engine.dispose()


async def test_run_and_run_pages_are_the_read_models_json(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    path = f"/v1/experiments/{experiment['id']}/runs"
    plain = (await client.post(path, json={"name": "plain"})).json()
    created = await client.post(path, json={"name": "varied", **VARIED})
    assert created.status_code == 201, created.text
    varied = created.json()
    created_plain = (await client.post(path, json={"name": "created"})).content.decode()
    started = await client.post(f"/v1/runs/{varied['id']}/start")
    assert started.status_code == 200, started.text
    rows = await _rows(database_url)
    expected = {str(row.id): RunRead.model_validate(row).model_dump_json() for row in rows}
    # Creates and transitions answer from their rows too (run/endpoints.py, transition_routes).
    assert created_plain == expected[json.loads(created_plain)["id"]]
    assert started.content.decode() == expected[varied["id"]]
    assert started.headers["content-type"] == "application/json"
    assert started.headers["etag"] == f'"{started.json()["version"]}"'
    for run in (plain, varied):
        answer = await client.get(f"/v1/runs/{run['id']}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.content.decode() == expected[run["id"]]
    page = await client.get("/v1/runs", params={"page_size": 10})
    assert (
        page.content.decode()
        == RunPage.model_validate(
            {"items": rows, "next_page_token": None}, from_attributes=True
        ).model_dump_json()
    )


async def test_experiments_and_capture_sessions_are_their_read_models_json(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client, tags=["a", "b"], params={"k": [1, 2.5]})
    run = (await client.post(f"/v1/experiments/{experiment['id']}/runs", json={"name": "r"})).json()
    assert (await client.post(f"/v1/runs/{run['id']}/start")).status_code == 200
    capture = await client.post(f"/v1/runs/{run['id']}/captures", json={"sensors": ["s1", "s2"]})
    assert capture.status_code == 201, capture.text
    engine = create_async_engine(async_database_url(database_url))
    try:
        async with engine.connect() as connection:
            experiment_row = (
                await connection.execute(
                    select(experiments).where(experiments.c.id == experiment["id"])
                )
            ).one()
            capture_row = (await connection.execute(select(capture_sessions))).one()
    finally:
        await engine.dispose()
    answer = await client.get(f"/v1/experiments/{experiment['id']}")
    assert (
        answer.content.decode() == ExperimentRead.model_validate(experiment_row).model_dump_json()
    )
    listed = await client.get("/v1/experiments")
    assert (
        listed.content.decode()
        == ExperimentPage.model_validate(
            {"items": [experiment_row], "next_page_token": None}, from_attributes=True
        ).model_dump_json()
    )
    expected_capture = CaptureRead.model_validate(capture_row).model_dump_json()
    assert (await client.get(f"/v1/captures/{capture_row.id}")).content.decode() == expected_capture
    expected_page = CapturePage.model_validate(
        {"items": [capture_row], "next_page_token": None}, from_attributes=True
    ).model_dump_json()
    assert (await client.get("/v1/captures")).content.decode() == expected_page
    assert (await client.get(f"/v1/runs/{run['id']}/captures")).content.decode() == expected_page
