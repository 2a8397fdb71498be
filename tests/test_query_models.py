"""Query models parsed in one pass (expsvc.query_models): the same meaning as FastAPI's own
reading of a query model, shown through the runs and experiments lists."""

from __future__ import annotations

import httpx

from tests.helpers import PROBLEM, create_experiment, create_run


async def test_every_value_of_a_list_parameter_counts(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client, name="lists")
    tagged = {
        tag: (await create_run(client, experiment["id"], name=tag, tags=[tag]))["id"]
        for tag in ("gpu", "cpu", "tpu")
    }
    response = await client.get("/v1/runs?tag_any=gpu&tag_any=tpu")
    assert response.status_code == 200
    assert {item["id"] for item in response.json()["items"]} == {tagged["gpu"], tagged["tpu"]}


async def test_a_repeated_single_value_parameter_takes_the_last(
    client: httpx.AsyncClient,
) -> None:
    experiment = await create_experiment(client, name="last")
    for index in range(3):
        await create_run(client, experiment["id"], name=f"run-{index}")
    response = await client.get("/v1/runs?page_size=1&page_size=2")
    assert response.status_code == 200
    assert len(response.json()["items"]) == 2


async def test_no_parameters_are_the_defaults(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client, name="defaults")
    made = [await create_run(client, experiment["id"], name=f"run-{i}") for i in range(2)]
    page = (await client.get("/v1/runs")).json()
    # Newest first (order_by=created_at, order=desc), no totals unless asked.
    assert [item["id"] for item in page["items"]] == [run["id"] for run in reversed(made)]
    assert page["total_size"] is None


async def test_an_unknown_parameter_is_refused_by_name(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/runs?colour=red&colour=blue&status=running")
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert [(error["pointer"], error["code"]) for error in errors] == [
        ("/query/colour", "extra_forbidden")
    ]


async def test_invalid_values_are_located_under_query(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/experiments?page_size=0&order_by=colour")
    assert response.status_code == 422
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {"/query/page_size", "/query/order_by"}
