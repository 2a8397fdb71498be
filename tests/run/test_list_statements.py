"""A list's statement is built once per shape (filters used, order, page start), values bound;
the driver keeps only its compiled form."""

from __future__ import annotations

import gc

import httpx
from sqlalchemy import Select

from expsvc.driver import BUILT_STATEMENTS, DriverStatement
from tests.helpers import create_experiment, create_run


async def test_pages_of_one_shape_share_a_statement_and_filter_by_their_own_values(
    client: httpx.AsyncClient,
) -> None:
    experiment = await create_experiment(client)
    runs = [
        await create_run(client, experiment["id"], name=f"r{index}", tags=[f"t{index % 2}"])
        for index in range(5)
    ]
    BUILT_STATEMENTS.clear()

    async def ids(**params: object) -> list[str]:
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    even = await ids(tag="t0", order="asc")
    odd = await ids(tag="t1", order="asc")
    assert even == [runs[0]["id"], runs[2]["id"], runs[4]["id"]]
    assert odd == [runs[1]["id"], runs[3]["id"]]
    # One shape: built once, its values bound.
    assert (BUILT_STATEMENTS.misses, BUILT_STATEMENTS.hits) == (1, 1)

    # Pages after the first are another shape (the keyset), again shared by every query.
    first = await client.get("/v1/runs", params={"tag": "t0", "order": "asc", "page_size": 2})
    token = first.json()["next_page_token"]
    second = await client.get(
        "/v1/runs", params={"tag": "t0", "order": "asc", "page_size": 2, "page_token": token}
    )
    assert [item["id"] for item in second.json()["items"]] == [runs[4]["id"]]
    assert BUILT_STATEMENTS.misses == 2


async def test_the_cache_keeps_compiled_statements_not_constructs(
    client: httpx.AsyncClient,
) -> None:
    """A cached SQLAlchemy construct is ~300 objects the cyclic collector walks: thousands of
    shapes made full collections take most of a second (docs/performance.md)."""
    experiment = await create_experiment(client)
    await create_run(client, experiment["id"], name="r", tags=["t"])
    BUILT_STATEMENTS.clear()
    gc.collect()
    constructs_before = sum(isinstance(o, Select) for o in gc.get_objects())
    orders = ("created_at", "started_at", "finished_at", "name")
    for order_by in orders:  # the head and the sorted matches in three orders: 7 statements
        response = await client.get("/v1/runs", params={"tag": "t", "order_by": order_by})
        assert response.status_code == 200, response.text
    assert len(BUILT_STATEMENTS) == BUILT_STATEMENTS.misses == 7
    gc.collect()
    assert sum(isinstance(o, Select) for o in gc.get_objects()) <= constructs_before
    assert all(
        isinstance(prepared, DriverStatement) for prepared in BUILT_STATEMENTS._compiled.values()
    )


def test_the_least_recently_run_shape_is_dropped_beyond_the_size() -> None:
    from sqlalchemy import literal, select
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from expsvc.driver import Built, BuiltStatements

    cache = BuiltStatements(2)
    built = {n: Built(("n", n), lambda n=n: select(literal(n))) for n in range(3)}
    cache.get(built[0], dialect())
    cache.get(built[1], dialect())
    cache.get(built[0], dialect())  # 0 is now the most recent
    cache.get(built[2], dialect())  # drops 1
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (1, 3)
    cache.get(built[0], dialect())
    cache.get(built[1], dialect())
    assert (cache.hits, cache.misses) == (2, 4)
