"""GET /v1/experiments in any order of created_at, started_at, finished_at and name, both
directions, keyset pages without gaps or repeats, and totals."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import create_experiment
from tests.problems import assert_problem


async def _all_pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params = {"page_size": 2, **params}
    while True:
        response = await client.get("/v1/experiments", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["next_page_token"] is None:
            return items
        params["page_token"] = page["next_page_token"]


@pytest.fixture
async def named(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Five experiments; b, then a, then d started (in that order), d finished."""
    made = {name: await create_experiment(client, name=name) for name in ("b", "a", "C", "d", "e")}
    for name in ("b", "a", "d"):
        response = await client.post(f"/v1/experiments/{made[name]['id']}/start")
        assert response.status_code == 200, response.text
    response = await client.post(f"/v1/experiments/{made['d']['id']}/finish")
    assert response.status_code == 200, response.text
    return made


async def test_by_name_in_code_point_order_both_ways(
    client: httpx.AsyncClient, named: dict[str, dict[str, Any]]
) -> None:
    ascending = [e["name"] for e in await _all_pages(client, order_by="name", order="asc")]
    assert ascending == ["C", "a", "b", "d", "e"]
    descending = [e["name"] for e in await _all_pages(client, order_by="name")]
    assert descending == ["e", "d", "b", "a", "C"]


async def test_by_a_time_that_some_have_not_with_those_last_ascending(
    client: httpx.AsyncClient, named: dict[str, dict[str, Any]]
) -> None:
    started = [e["name"] for e in await _all_pages(client, order_by="started_at", order="asc")]
    assert started[:3] == ["b", "a", "d"]
    assert sorted(started[3:]) == ["C", "e"]
    finished = [e["name"] for e in await _all_pages(client, order_by="finished_at")]
    assert sorted(finished[:4]) == ["C", "a", "b", "e"]  # no finish time: the largest
    assert finished[4] == "d"


async def test_by_creation_oldest_first(
    client: httpx.AsyncClient, named: dict[str, dict[str, Any]]
) -> None:
    oldest_first = [e["name"] for e in await _all_pages(client, order="asc")]
    assert oldest_first == ["b", "a", "C", "d", "e"]
    newest_first = [e["name"] for e in await _all_pages(client)]
    assert newest_first == list(reversed(oldest_first))


async def test_totals_count_what_the_filters_select(
    client: httpx.AsyncClient, named: dict[str, dict[str, Any]]
) -> None:
    exact = (await client.get("/v1/experiments", params={"total": "exact"})).json()
    assert (exact["total_size"], exact["total_exact"]) == (5, True)
    running = {"status": "running", "total": "exact", "page_size": 1}
    page = (await client.get("/v1/experiments", params=running)).json()
    assert (page["total_size"], len(page["items"])) == (2, 1)
    estimate = (await client.get("/v1/experiments", params={"total": "estimate"})).json()
    assert estimate["total_exact"] is False
    assert estimate["total_size"] >= 0
    plain = (await client.get("/v1/experiments")).json()
    assert (plain["total_size"], plain["total_exact"]) == (None, None)


async def test_a_page_token_keeps_its_order(
    client: httpx.AsyncClient, named: dict[str, dict[str, Any]]
) -> None:
    first = await client.get("/v1/experiments", params={"order_by": "name", "page_size": 2})
    token = first.json()["next_page_token"]
    other = {"order_by": "created_at", "page_size": 2, "page_token": token}
    assert_problem(await client.get("/v1/experiments", params=other), 400, "invalid-page-token")


@pytest.mark.parametrize(
    "params", [{"order_by": "version"}, {"order": "sideways"}, {"total": "roughly"}]
)
async def test_bad_order_or_total_is_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get("/v1/experiments", params=params)
    assert_problem(response, 422, "validation-error")
