"""``GET /v1/runs/export`` and ``GET /v1/experiments/export`` through HTTP: formats, the lists'
filters, fields, resuming, refusals, and only what the caller may read."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.helpers import act, create_experiment, create_run
from tests.problems import assert_problem


def jsonl(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.text == "" or response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.text, newline="")))


async def export(client: httpx.AsyncClient, entity: str, **params: Any) -> httpx.Response:
    return await client.get(f"/v1/{entity}/export", params=params)


async def listed(client: httpx.AsyncClient, entity: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/{entity}", params={**params, "page_size": 1000})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_jsonl_is_every_run_in_id_order_as_the_api_shows_it(
    client: httpx.AsyncClient,
) -> None:
    experiment = await create_experiment(client)
    for i in range(3):
        await create_run(client, experiment["id"], name=f"r{i}", params={"lr": i / 10})
    response = await export(client, "runs")
    assert response.headers["content-type"] == "application/x-ndjson"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="runs-')
    assert disposition.endswith('.jsonl"')
    rows = jsonl(response)
    expected = sorted(await listed(client, "runs"), key=lambda run: run["id"])
    assert rows == expected
    assert len(rows) == 3


async def test_json_is_one_array_and_nothing_is_an_empty_one(client: httpx.AsyncClient) -> None:
    empty = await export(client, "experiments", format="json")
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "application/json"
    assert empty.json() == []

    for i in range(2):
        await create_experiment(client, name=f"e{i}", tags=["t"], params={"n": i})
    response = await export(client, "experiments", format="json")
    assert response.headers["content-disposition"].endswith('.json"')
    expected = sorted(await listed(client, "experiments"), key=lambda item: item["id"])
    assert response.json() == expected


async def test_csv_has_a_header_rfc_4180_quoting_and_json_text_cells(
    client: httpx.AsyncClient,
) -> None:
    experiment = await create_experiment(client)
    name = 'a, "quoted"\nname'
    run = await create_run(
        client, experiment["id"], name=name, tags=["b", "a"], params={"x": [1, "y"]}
    )
    response = await export(client, "runs", format="csv")
    assert response.headers["content-disposition"].endswith('.csv"')
    assert '"a, ""quoted""\nname"' in response.text
    assert response.text.endswith("\r\n")
    header, row = csv_rows(response)
    assert header[:3] == ["id", "experiment_id", "name"]
    cells = dict(zip(header, row, strict=True))
    assert cells["id"] == run["id"]
    assert cells["name"] == name
    assert json.loads(cells["tags"]) == ["a", "b"]
    assert json.loads(cells["params"]) == {"x": [1, "y"]}
    assert cells["git_sha"] == ""  # null
    assert cells["created_at"] == run["created_at"]
    assert cells["version"] == "1"


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


# Deeper than orjson writes (254 levels): the API refuses such params, but JSONB holds them (a
# row an earlier release or an operator's SQL wrote) and they are read back as they are.
DEEP = {"deep": _nested(300)}


async def test_params_orjson_cannot_encode_are_exported_all_the_same(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"], tags=["t"], params={"n": 1})
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE runs SET params = $1::jsonb WHERE id = $2",
            json.dumps(DEEP),
            uuid.UUID(run["id"]),
        )
    finally:
        await connection.close()
    # The export writes them (GET /v1/runs/{id} cannot: its read model stops at a depth too).
    expected = {**run, "params": DEEP}
    [item] = jsonl(await export(client, "runs"))
    assert item == {key: expected[key] for key in item}
    assert item["created_at"] == run["created_at"]  # the same RFC 3339 text as orjson's
    array = await export(client, "runs", format="json")
    assert array.status_code == 200, array.text
    assert json.loads(array.text) == [item]
    [header, row] = csv_rows(await export(client, "runs", format="csv", fields="id,params"))
    assert header == ["id", "params"]
    assert row[0] == run["id"]
    assert json.loads(row[1]) == DEEP
    assert " " not in row[1]  # compact, as orjson writes the other cells


@pytest.mark.parametrize(
    "name", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("http://x")']
)
async def test_csv_neutralises_cells_a_spreadsheet_would_run(
    client: httpx.AsyncClient, name: str
) -> None:
    experiment = await create_experiment(client, name=name, description=name)
    await create_run(client, experiment["id"], name=name, git_branch=name)
    [header, row] = csv_rows(await export(client, "runs", format="csv", fields="name,git_branch"))
    assert header == ["name", "git_branch"]
    assert row == ["'" + name, "'" + name]
    [_, row] = csv_rows(await export(client, "experiments", format="csv", fields="description"))
    assert row == ["'" + name]
    # JSON formats carry the text unchanged.
    [item] = jsonl(await export(client, "runs", fields="name"))
    assert item == {"name": name}


async def test_csv_leaves_safe_cells_alone(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client, name="plain = text")
    await create_run(client, experiment["id"], name="x-1", params={"f": "=1"})
    [_, row] = csv_rows(await export(client, "runs", format="csv", fields="name,params"))
    assert row == ["x-1", '{"f":"=1"}']


async def test_fields_choose_and_order_what_is_exported(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"], name="r")
    rows = jsonl(await export(client, "runs", fields="status, name,id,name"))
    assert rows == [{"status": "draft", "name": "r", "id": run["id"]}]
    assert list(rows[0]) == ["status", "name", "id"]
    [header, row] = csv_rows(await export(client, "runs", format="csv", fields="version,id"))
    assert (header, row) == (["version", "id"], ["1", run["id"]])
    array = (await export(client, "experiments", format="json", fields="name")).json()
    assert array == [{"name": experiment["name"]}]


async def make_runs(client: httpx.AsyncClient) -> dict[str, str]:
    """Runs in two experiments, in every status shape the filters tell apart: name → id."""
    first = await create_experiment(client, name="first")
    second = await create_experiment(client, name="second")
    ids: dict[str, str] = {}
    specs = [
        (first, "alpha-1", ["a", "b"], "start"),
        (first, "alpha-2", ["a"], None),
        (first, "beta-1", ["b"], "start"),
        (second, "alpha-3", ["a", "b"], None),
        (second, "gamma", [], "start"),
    ]
    for experiment, name, tags, action in specs:
        run = await create_run(client, experiment["id"], name=name, tags=tags)
        if action:
            await act(client, f"/v1/runs/{run['id']}", action)
        ids[name] = run["id"]
    await act(client, f"/v1/runs/{ids['gamma']}", "finish")
    return ids


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "running"},
        {"status": ["draft", "finished"]},
        {"tag": ["a", "b"]},
        {"tag": "b", "status": "running"},
        {"name_prefix": "alpha"},
        {"started_after": "2000-01-01T00:00:00Z"},
        {"created_before": "2000-01-01T00:00:00Z"},
        {"first_experiment": True},
    ],
    ids=lambda filters: json.dumps(filters),
)
async def test_run_filters_are_the_lists_filters(
    client: httpx.AsyncClient, filters: dict[str, Any]
) -> None:
    ids = await make_runs(client)
    if filters.pop("first_experiment", False):
        filters["experiment_id"] = (await listed(client, "runs", name_prefix="beta"))[0][
            "experiment_id"
        ]
    expected = sorted(run["id"] for run in await listed(client, "runs", **filters))
    exported = [row["id"] for row in jsonl(await export(client, "runs", **filters, fields="id"))]
    assert exported == expected
    assert set(exported) <= set(ids.values())


async def test_created_time_filters_narrow_the_export(client: httpx.AsyncClient) -> None:
    await make_runs(client)
    now = datetime.now(UTC)
    window = {"created_after": (now - timedelta(hours=1)).isoformat()}
    window["created_before"] = (now + timedelta(hours=1)).isoformat()
    assert len(jsonl(await export(client, "runs", **window))) == 5
    empty = await export(client, "runs", created_after=(now + timedelta(hours=1)).isoformat())
    assert jsonl(empty) == []


@pytest.mark.parametrize("filters", [{}, {"status": "running"}, {"tag": ["x", "y"]}, {"tag": "y"}])
async def test_experiment_filters_are_the_lists_filters(
    client: httpx.AsyncClient, filters: dict[str, Any]
) -> None:
    for i, tags in enumerate([["x"], ["x", "y"], ["y"], []]):
        experiment = await create_experiment(client, name=f"e{i}", tags=tags)
        if i % 2:
            await act(client, f"/v1/experiments/{experiment['id']}", "start")
    expected = sorted(item["id"] for item in await listed(client, "experiments", **filters))
    exported = [row["id"] for row in jsonl(await export(client, "experiments", **filters))]
    assert exported == expected


@pytest.mark.parametrize("format", ["jsonl", "json", "csv"])
async def test_after_resumes_past_that_id(client: httpx.AsyncClient, format: str) -> None:
    experiment = await create_experiment(client)
    runs = [await create_run(client, experiment["id"], name=f"r{i}") for i in range(5)]
    ids = sorted(run["id"] for run in runs)
    response = await export(client, "runs", format=format, fields="id", after=ids[1])
    if format == "csv":
        resumed = [row[0] for row in csv_rows(response)[1:]]
    elif format == "json":
        resumed = [item["id"] for item in response.json()]
    else:
        resumed = [item["id"] for item in jsonl(response)]
    assert resumed == ids[2:]
    assert jsonl(await export(client, "runs", after=ids[-1])) == []


@pytest.mark.parametrize("entity", ["runs", "experiments"])
@pytest.mark.parametrize(
    ("params", "pointer", "named"),
    [
        ({"format": "xml"}, "/query/format", "'jsonl'"),
        ({"fields": "id,nope"}, "/query/fields", "'nope'"),
        ({"fields": "id,,name"}, "/query/fields", "''"),
        ({"after": "not-an-id"}, "/query/after", "UUID"),
        ({"statuss": "running"}, "/query/statuss", "not permitted"),
        ({"status": "sleeping"}, "/query/status/0", "draft"),
    ],
)
async def test_bad_queries_are_422_naming_what_is_wrong(
    client: httpx.AsyncClient, entity: str, params: dict[str, str], pointer: str, named: str
) -> None:
    response = await export(client, entity, **params)
    problem = assert_problem(response, 422, "validation-error")
    [error] = problem["errors"]
    assert error["pointer"] == pointer
    assert named in error["message"]


async def test_export_paths_are_not_taken_for_ids(client: httpx.AsyncClient) -> None:
    # /v1/runs/{run_id} and /v1/experiments/{experiment_id} would answer 422 (not a UUID).
    for entity in ("runs", "experiments"):
        assert (await export(client, entity)).status_code == 200


Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def as_user(database_url: str) -> AsyncIterator[Client]:
    """A client per principal, identified by the gateway's header."""
    settings = make_settings(database_url, **header_identity("X-User", "10.1.2.0/24"))
    app: FastAPI = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def client(principal: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
        made = httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-User": principal}
        )
        clients.append(made)
        return made

    async with app.router.lifespan_context(app):
        yield client
        for made in clients:
            await made.aclose()


async def test_a_caller_exports_only_what_it_may_read(as_user: Client) -> None:
    alice, bob = as_user("alice"), as_user("bob")
    private = await create_experiment(alice, name="alice's")
    shared = await create_experiment(alice, name="shared")
    own = await create_experiment(bob, name="bob's")
    await create_run(alice, private["id"], name="hidden")
    await create_run(alice, shared["id"], name="visible")
    await create_run(bob, own["id"], name="own")
    grant = await alice.put(
        f"/v1/experiments/{shared['id']}/grants/principals/bob", json={"role": "viewer"}
    )
    assert grant.status_code == 200, grant.text

    names = {row["name"] for row in jsonl(await export(bob, "runs", fields="name"))}
    assert names == {"visible", "own"}
    csv_names = {row[0] for row in csv_rows(await export(bob, "runs", format="csv", fields="name"))}
    assert csv_names == {"name", "visible", "own"}
    experiments = (await export(bob, "experiments", format="json", fields="name")).json()
    assert sorted(item["name"] for item in experiments) == ["bob's", "shared"]
    # Naming a hidden experiment's id selects nothing, as the list does.
    assert jsonl(await export(bob, "runs", experiment_id=private["id"])) == []
    assert len(jsonl(await export(alice, "runs"))) == 2
    nobody = as_user("carol")
    assert jsonl(await export(nobody, "runs")) == []
    assert (await export(nobody, "experiments", format="json")).json() == []
