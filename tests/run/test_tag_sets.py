"""Lists with tag conditions that may never meet, through GET /v1/runs: a page first asks the
runs' tag sets (migration 0027, ADR 0036) whether any meets them. Every way a run gets a new
set (created, edited, tagged in bulk, written by SQL as the previous release writes) makes its
lists find it, in every order, and so does a rollback of 0027 under the running code."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from expsvc.migrate import downgrade, upgrade
from tests.helpers import create_experiment, create_run
from tests.statements import sent_statements

ORDERS = [
    (column, order)
    for column in ("created_at", "started_at", "finished_at", "name")
    for order in ("desc", "asc")
]
# Every sweep run is a gpu run, and no run is both cpu and gpu: these lists start empty.
SWEEP_NOT_GPU = {"tag": ["sweep"], "tag_none": ["gpu"]}
CPU_AND_GPU = {"tag": ["cpu", "gpu"]}


async def names(client: httpx.AsyncClient, where: dict[str, Any]) -> set[str]:
    """The names a list finds, the same in every order (else the test fails)."""
    found = []
    for column, order in ORDERS:
        params = {**where, "order_by": column, "order": order, "page_size": 100}
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        found.append({item["name"] for item in response.json()["items"]})
    assert all(each == found[0] for each in found), found
    return found[0]


async def tag_sets(database_url: str) -> list[list[str] | None]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT tags FROM run_tag_sets ORDER BY tags NULLS FIRST")
    finally:
        await connection.close()
    return [None if row["tags"] is None else list(row["tags"]) for row in rows]


async def test_a_run_with_a_new_tag_set_is_found_however_it_got_it(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    for number in range(3):
        await create_run(client, experiment["id"], name=f"sweep-{number}", tags=["sweep", "gpu"])
    edited = await create_run(client, experiment["id"], name="edited", tags=["gpu"])
    bulk = await create_run(client, experiment["id"], name="bulk", tags=["cpu"])
    with sent_statements(app.state.database.engine) as sent:
        assert await names(client, SWEEP_NOT_GPU) == set()
    assert any("run_tag_sets" in statement for statement in sent)  # the question was asked
    assert await names(client, CPU_AND_GPU) == set()
    assert await tag_sets(database_url) == [["cpu"], ["gpu"], ["gpu", "sweep"]]  # sorted

    # Created with a set no run had.
    await create_run(client, experiment["id"], name="created", tags=["sweep", "cpu"])
    assert await names(client, SWEEP_NOT_GPU) == {"created"}
    # Edited to one.
    response = await client.patch(f"/v1/runs/{edited['id']}", json={"tags": ["sweep"]})
    assert response.status_code == 200, response.text
    assert await names(client, SWEEP_NOT_GPU) == {"created", "edited"}
    # Tagged in bulk to one.
    response = await client.post("/v1/runs/bulk/tags", json={"ids": [bulk["id"]], "add": ["gpu"]})
    assert response.status_code == 200, response.text
    assert await names(client, CPU_AND_GPU) == {"bulk"}
    # Each set once, whatever the number of runs that have it.
    assert await tag_sets(database_url) == [
        ["cpu"], ["cpu", "gpu"], ["cpu", "sweep"], ["gpu"], ["gpu", "sweep"], ["sweep"]
    ]  # fmt: skip


async def test_runs_written_by_sql_are_found(client: httpx.AsyncClient, database_url: str) -> None:
    # As the previous release writes them, knowing nothing of run_tag_sets: several at once,
    # and a tag edit.
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"], name="sweep", tags=["sweep", "gpu"])
    assert await names(client, SWEEP_NOT_GPU) == set()
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO runs (id, experiment_id, name, created_by, tags)"
            " SELECT gen_random_uuid(), $1, name, 'carol', tags FROM (VALUES"
            " ('sql-1', ARRAY['sweep', 'tpu']), ('sql-2', ARRAY['sweep', 'tpu']),"
            " ('sql-3', ARRAY['cpu'])) AS v (name, tags)",
            uuid.UUID(experiment["id"]),
        )
        await connection.execute("UPDATE runs SET tags = ARRAY['sweep'] WHERE name = 'sql-3'")
    finally:
        await connection.close()
    assert await names(client, SWEEP_NOT_GPU) == {"sql-1", "sql-2", "sql-3"}


async def test_where_0027_is_rolled_back_under_the_code_lists_stay_right(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # The code has read its facts (0027 holds the sets) and keeps them for minutes: rolled
    # back, the table says "not kept" and meets every list; a run written meanwhile with a new
    # set, which no trigger notes, is found before and after the upgrade that comes back.
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"], name="sweep", tags=["sweep", "gpu"])
    assert await names(client, SWEEP_NOT_GPU) == set()
    await asyncio.to_thread(downgrade, database_url, "0026")
    assert await tag_sets(database_url) == [None, ["gpu", "sweep"]]
    await create_run(client, experiment["id"], name="meanwhile", tags=["sweep"])
    assert await names(client, SWEEP_NOT_GPU) == {"meanwhile"}

    await asyncio.to_thread(upgrade, database_url)
    assert await tag_sets(database_url) == [["gpu", "sweep"], ["sweep"]]
    assert await names(client, SWEEP_NOT_GPU) == {"meanwhile"}
    assert await names(client, {"tag": ["sweep"], "tag_none": ["tpu"]}) == {"meanwhile", "sweep"}


async def test_exact_totals_ask_the_tag_sets_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"], name="sweep", tags=["sweep", "gpu"])

    async def total(where: dict[str, Any]) -> tuple[int, bool]:
        response = await client.get("/v1/runs", params={**where, "total": "exact"})
        assert response.status_code == 200, response.text
        return response.json()["total_size"], response.json()["total_exact"]

    with sent_statements(app.state.database.engine) as sent:
        assert await total(SWEEP_NOT_GPU) == (0, True)
    counts = [statement for statement in sent if "count(" in statement.lower()]
    assert counts, sent
    assert all("run_tag_sets" in statement for statement in counts), counts
    await create_run(client, experiment["id"], name="created", tags=["sweep", "cpu"])
    await create_run(client, experiment["id"], name="again", tags=["sweep", "cpu"])
    assert await total(SWEEP_NOT_GPU) == (2, True)
    assert await total({"tag": ["sweep"], "tag_none": ["cpu"]}) == (1, True)
