"""Indexed params keys (ADR 0037): ``expsvc params index KEY`` builds KEY's index in every list
order and with the creator, and lists with ``params=KEY=value`` walk that value's runs on it
(with ``created_by``, read that creator's runs of it), page after page, in every order, with the
same runs and order as without it; ``drop-index`` drops them and the lists stay right."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.run.param_indexes import CREATOR, INDEX_COLUMNS, SORT_COLUMNS, index_name
from tests.conftest import header_identity, make_settings
from tests.helpers import act, create_experiment, create_run
from tests.statements import sent_statements
from tests.test_cli import invoke

ORDERS = [(column, order) for column in SORT_COLUMNS for order in ("desc", "asc")]
OPTIMIZERS = ("adam", "sgd", "adamw", "lion")


async def params_cli(database_url: str, *args: str) -> tuple[int, str]:
    """``expsvc params ARGS`` on the test's database: exit code and output."""
    result = await asyncio.to_thread(invoke, "params", *args, database_url=database_url)
    return result.exit_code, result.output


async def ids_in_order(client: httpx.AsyncClient, where: dict[str, Any], page_size: int) -> list:
    """Every run a list finds, page after page, in its order (each entry: id, params)."""
    found: list[tuple[str, dict[str, Any]]] = []
    params = {**where, "page_size": page_size}
    while True:
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [(item["id"], item["params"]) for item in body["items"]]
        if not body.get("next_page_token"):
            return found
        params = {**where, "page_size": page_size, "page_token": body["next_page_token"]}


async def make_runs(client: httpx.AsyncClient) -> None:
    """Runs of two experiments whose ``lion`` runs sort last by name (as in ``expsvc seed``'s
    data), some started, some finished, and runs whose optimizer is not the string ``lion``
    though close: missing, an array holding it, another case, a number."""
    experiments = [(await create_experiment(client))["id"] for _ in range(2)]
    for number in range(28):
        optimizer = OPTIMIZERS[number % 4]
        name = f"{'zz' if optimizer == 'lion' else 'aa'}-{number:02d}"
        run = await create_run(
            client, experiments[number % 2], name=name, params={"optimizer": optimizer}
        )
        if number % 3:
            await act(client, "/v1/runs/" + run["id"], "start")
            if number % 5 == 0:
                await act(client, "/v1/runs/" + run["id"], "finish")
    for near in ({}, {"optimizer": ["lion"]}, {"optimizer": "Lion"}, {"optimizer": 4}):
        await create_run(client, experiments[0], name="zz-near", params=near)


def lion(found: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [run_id for run_id, params in found if params.get("optimizer") == "lion"]


async def test_an_indexed_key_lists_the_same_runs_in_the_same_order(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await make_runs(client)
    code, output = await params_cli(database_url, "index", "optimizer")
    assert code == 0, output
    assert output.count("built ix_runs_param_") == len(INDEX_COLUMNS)

    cases = [{}, {"status": "running"}, {"started_after": "2000-01-01T00:00:00Z"}]
    with sent_statements(app.state.database.engine) as sent:
        for column, order in ORDERS:
            for extra in cases:
                where = {"order_by": column, "order": order, **extra}
                every = await ids_in_order(client, where, 100)
                filtered = await ids_in_order(client, {**where, "params": "optimizer=lion"}, 3)
                assert [run_id for run_id, _ in filtered] == lion(every), (column, order, extra)
                assert len(filtered) >= 3
    # The heads walked the key's index (its expression, the key a literal).
    assert any("params -> 'optimizer'" in statement for statement in sent)

    # A run written after the index is built is found by the walk.
    experiment = (await create_experiment(client))["id"]
    late = await create_run(client, experiment, name="zz-late", params={"optimizer": "lion"})
    listed = await ids_in_order(client, {"order_by": "name", "params": "optimizer=lion"}, 3)
    assert listed[0][0] == late["id"]  # "zz-late" sorts after "zz-27" in descending order

    # Dropped: the lists stay right (this process still walks with the key until it reads the
    # table's facts again, on the table without the index).
    code, output = await params_cli(database_url, "drop-index", "optimizer")
    assert code == 0, output
    assert output.count("dropped ix_runs_param_") == len(INDEX_COLUMNS)
    for column, order in ORDERS:
        where = {"order_by": column, "order": order}
        every = await ids_in_order(client, where, 100)
        filtered = await ids_in_order(client, {**where, "params": "optimizer=lion"}, 4)
        assert [run_id for run_id, _ in filtered] == lion(every), (column, order)


async def index_validity(database_url: str) -> dict[str, bool]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE left(c.relname, 14) = 'ix_runs_param_'"
        )
    finally:
        await connection.close()
    return {row[0]: row[1] for row in rows}


async def test_the_cli_builds_what_is_missing_or_invalid_and_refuses_bad_input(
    database_url: str,
) -> None:
    code, output = await params_cli(database_url, "index", "lr", "--order", "name")
    assert code == 0, output
    name = index_name("lr", "name")
    assert await index_validity(database_url) == {name: True}
    code, output = await params_cli(database_url, "indexes")
    assert code == 0, output
    assert output.split("\t")[:4] == ["lr", "name", name, "valid"]

    # Built again: nothing to do. A build that failed left an invalid index: rebuilt.
    code, output = await params_cli(database_url, "index", "lr", "--order", "name")
    assert (code, "built" in output) == (0, False), output
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass", name
        )
    finally:
        await connection.close()
    code, output = await params_cli(database_url, "indexes")
    assert "\tinvalid\t" in output, output
    code, output = await params_cli(database_url, "index", "lr", "--order", "name")
    assert (code, f"built {name}" in output) == (0, True), output
    assert await index_validity(database_url) == {name: True}

    # Bad input: exit 2 with the reason, nothing built.
    code, output = await params_cli(database_url, "index", "lr; DROP TABLE runs")
    assert code == 2
    assert "a params key is 1 to 128 letters" in output
    code, output = await params_cli(database_url, "index", "lr", "--order", "status")
    assert code == 2
    assert "unknown column status" in output
    assert await index_validity(database_url) == {name: True}

    code, output = await params_cli(database_url, "drop-index", "lr")
    assert (code, output.strip()) == (0, f"dropped {name}")
    code, output = await params_cli(database_url, "drop-index", "lr")
    assert (code, output.strip()) == (0, "lr: no index to drop")
    assert await index_validity(database_url) == {}


CREATORS = ("alice", "bob", "erin")


async def test_a_creators_runs_of_an_indexed_value_are_read_on_the_creator_index(
    database_url: str,
) -> None:
    """``created_by=X&params=optimizer=V``: the same runs in the same order with the key
    indexed as without, in every order and page size; where the creator never used the value
    (erin never uses lion, as in ``expsvc seed``'s data), the sorted matches read the key's
    creator index and find none without reading the value's runs."""
    settings = make_settings(
        database_url, **header_identity("X-Principal"), admin_principals=",".join(CREATORS)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            client.headers["X-Principal"] = "alice"
            experiment = (await create_experiment(client))["id"]
            for number in range(36):
                creator = CREATORS[number % 3]
                optimizer = "adam" if creator == "erin" else OPTIMIZERS[number % 4]
                client.headers["X-Principal"] = creator
                name = f"{'zz' if optimizer == 'lion' else 'aa'}-{number:02d}"
                run = await create_run(
                    client, experiment, name=name, params={"optimizer": optimizer}
                )
                if number % 2:
                    await act(client, "/v1/runs/" + run["id"], "start")

            async def lists() -> dict[tuple[str, str, str], list[str]]:
                found = {}
                for creator in CREATORS:
                    for column, order in ORDERS:
                        where = {"order_by": column, "order": order, "created_by": creator}
                        where["params"] = "optimizer=lion"
                        runs = await ids_in_order(client, where, 2)
                        found[(creator, column, order)] = [run_id for run_id, _ in runs]
                return found

            without = await lists()
            assert all(without[("erin", c, o)] == [] for c, o in ORDERS)
            assert all(len(without[("bob", c, o)]) >= 3 for c, o in ORDERS)

            code, output = await params_cli(database_url, "index", "optimizer")
            assert code == 0, output
            assert f"built {index_name('optimizer', CREATOR)}" in output
        # A new app: its facts are read now, with the indexes.
    indexed_app = create_app(settings)
    async with indexed_app.router.lifespan_context(indexed_app):
        transport = httpx.ASGITransport(app=indexed_app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers={"X-Principal": "alice"}
        ) as client:
            with sent_statements(indexed_app.state.database.engine) as sent:
                assert await lists() == without
            # The sorted matches (not the head: it walks the key's order index) carry the
            # key's expression, which the creator index holds.
            sorted_matches = [s for s in sent if " FROM runs WHERE runs.created_by =" in s]
            assert sorted_matches
            assert all("(runs.params -> 'optimizer') = " in s for s in sorted_matches)
