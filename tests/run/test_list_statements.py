"""A list's statement is built once per shape (filters used, order, page start), values bound."""

from __future__ import annotations

import httpx

from expsvc.run.repository import _planned_statement
from tests.helpers import create_experiment, create_run


async def test_pages_of_one_shape_share_a_statement_and_filter_by_their_own_values(
    client: httpx.AsyncClient,
) -> None:
    experiment = await create_experiment(client)
    runs = [
        await create_run(client, experiment["id"], name=f"r{index}", tags=[f"t{index % 2}"])
        for index in range(5)
    ]
    _planned_statement.cache_clear()

    async def ids(**params: object) -> list[str]:
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    even = await ids(tag="t0", order="asc")
    odd = await ids(tag="t1", order="asc")
    assert even == [runs[0]["id"], runs[2]["id"], runs[4]["id"]]
    assert odd == [runs[1]["id"], runs[3]["id"]]
    built = _planned_statement.cache_info()
    assert (built.misses, built.hits) == (1, 1)  # one shape: built once, its values bound

    # Pages after the first are another shape (the keyset), again shared by every query.
    first = await client.get("/v1/runs", params={"tag": "t0", "order": "asc", "page_size": 2})
    token = first.json()["next_page_token"]
    second = await client.get(
        "/v1/runs", params={"tag": "t0", "order": "asc", "page_size": 2, "page_token": token}
    )
    assert [item["id"] for item in second.json()["items"]] == [runs[4]["id"]]
    assert _planned_statement.cache_info().misses == 2
