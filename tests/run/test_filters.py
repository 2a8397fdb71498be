"""GET /v1/runs's typed filters and filter language through HTTP: what each selects, the same
selection in bulk and export, the 400 problems, keyset pages under inserts, and totals."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from expsvc.app import create_app
from tests.conftest import header_identity, make_settings
from tests.helpers import PROBLEM, act, create_experiment, create_run

SHA_A = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SHA_B = "ffffeeee0000111122223333444455556666aaaa"


@pytest.fixture
async def runs(client: httpx.AsyncClient) -> dict[str, Any]:
    """Five runs in two experiments, each differing in what the filters look at."""
    first = await create_experiment(client, name="first")
    second = await create_experiment(client, name="second")
    made = {
        "alpha": await create_run(
            client, first["id"], name="Alpha-resnet", tags=["gpu", "sweep"],
            params={"lr": 0.001, "optimizer": "adam", "layers": 50},
            participants=["alice", "bob"], git_sha=SHA_A, git_branch="main",
        ),
        "beta": await create_run(
            client, first["id"], name="beta-bert", tags=["gpu"],
            params={"lr": 0.1, "optimizer": "sgd"}, participants=["carol"],
            git_sha=SHA_B, git_branch="dev",
        ),
        "gamma": await create_run(
            client, second["id"], name="gamma-resnet", tags=["cpu", "prod"],
            params={"lr": 0.01, "seed": 7}, participants=["bob"], git_branch="main",
        ),
        "delta": await create_run(client, second["id"], name="delta", tags=[]),
    }  # fmt: skip
    await act(client, f"/v1/runs/{made['alpha']['id']}", "start")
    await act(client, f"/v1/runs/{made['gamma']['id']}", "start")
    for run, sensors in (("alpha", ["cam-1", "imu-2"]), ("gamma", ["cam-9"])):
        response = await client.post(
            f"/v1/runs/{made[run]['id']}/captures", json={"sensors": sensors}
        )
        assert response.status_code == 201, response.text
    return {"experiments": (first, second), **made}


async def names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/runs", params={"order_by": "name", "order": "asc", **params})
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_each_typed_filter_selects_its_runs(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    first, second = runs["experiments"]
    assert await names(client, git_sha=SHA_A[:7]) == ["Alpha-resnet"]
    assert await names(client, git_sha=SHA_B.upper()) == ["beta-bert"]
    assert await names(client, git_branch="main") == ["Alpha-resnet", "gamma-resnet"]
    assert await names(client, participant=["carol", "bob"]) == [
        "Alpha-resnet", "beta-bert", "gamma-resnet",
    ]  # fmt: skip
    assert await names(client, sensor="imu-2") == ["Alpha-resnet"]
    assert await names(client, sensor=["cam-9", "cam-1"]) == ["Alpha-resnet", "gamma-resnet"]
    assert await names(client, sensor="cam-404") == []
    assert await names(client, status=["running", "draft"], tag="gpu") == [
        "Alpha-resnet", "beta-bert",
    ]  # fmt: skip
    assert await names(client, experiment_id=[first["id"], second["id"]], status="running") == [
        "Alpha-resnet", "gamma-resnet",
    ]  # fmt: skip
    assert await names(client, tag_any=["cpu", "sweep"]) == ["Alpha-resnet", "gamma-resnet"]
    assert await names(client, tag_none=["gpu"]) == ["delta", "gamma-resnet"]
    assert await names(client, tag=["gpu", "sweep"]) == ["Alpha-resnet"]
    assert await names(client, name_contains="RESNET") == ["Alpha-resnet", "gamma-resnet"]
    assert await names(client, name_contains="100%") == []  # LIKE's wildcards are text
    assert await names(client, created_by="anonymous") == await names(client)


async def test_params_compare_numbers_and_strings_and_test_keys(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    assert await names(client, params="lr<0.05") == ["Alpha-resnet", "gamma-resnet"]
    assert await names(client, params="lr>=0.01") == ["beta-bert", "gamma-resnet"]
    assert await names(client, params=["lr>0.0001", "lr<=0.001"]) == ["Alpha-resnet"]
    assert await names(client, params="optimizer=adam") == ["Alpha-resnet"]
    assert await names(client, params="optimizer!=adam") == ["beta-bert"]  # has it, differs
    assert await names(client, params='optimizer>"b"') == ["beta-bert"]  # strings by text
    assert await names(client, params="seed") == ["gamma-resnet"]
    assert await names(client, params="layers=50") == ["Alpha-resnet"]


async def test_the_filter_language(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    assert await names(client, filter='status = "running" AND params.lr < 0.005') == [
        "Alpha-resnet"
    ]
    # OR binds tighter than AND (AIP-160): tags:gpu AND (branch dev OR branch main).
    assert await names(client, filter="tags:gpu AND git_branch = dev OR git_branch = main") == [
        "Alpha-resnet",
        "beta-bert",
    ]
    assert await names(client, filter="NOT tags:gpu AND -(name = delta)") == ["gamma-resnet"]
    assert await names(client, filter="(sensors:cam-9 OR participants:carol)") == [
        "beta-bert", "gamma-resnet",
    ]  # fmt: skip
    assert await names(client, filter=f"git_sha:{SHA_A[:10]}") == ["Alpha-resnet"]
    assert await names(client, filter='name:"resnet" AND params.seed:*') == ["gamma-resnet"]
    since = runs["beta"]["created_at"]
    assert await names(client, filter=f'created_at >= "{since}" AND name != delta') == [
        "beta-bert", "gamma-resnet",
    ]  # fmt: skip
    # Typed filters and the expression narrow together.
    assert await names(client, git_branch="main", filter="params.lr > 0.005") == ["gamma-resnet"]


def _problem(response: httpx.Response, slug: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    return body


@pytest.mark.parametrize(
    ("params", "slug", "expected"),
    [
        ({"git_sha": "abc12"}, "invalid-filter-value", "7 to 64 hex"),
        ({"git_sha": "zzzzzzzz"}, "invalid-filter-value", "7 to 64 hex"),
        ({"filter": 'status = "running" AND'}, "invalid-filter", "position 22"),
        ({"filter": "status = = running"}, "invalid-filter", "position 9"),
        ({"filter": "(tags:gpu"}, "invalid-filter", "expected ')'"),
        ({"filter": 'name = "open'}, "invalid-filter", "unterminated string (at position 7)"),
        ({"filter": "colour = red"}, "unknown-filter-field", "unknown field 'colour'"),
        ({"filter": "status = sleeping"}, "invalid-filter-value", "a status is one of"),
        ({"filter": "tags < gpu"}, "invalid-filter-value", "tags takes"),
        ({"filter": "params.lr < true"}, "invalid-filter-value", "compare with = or !="),
        ({"filter": "created_at > yesterday"}, "invalid-filter-value", "RFC 3339"),
        ({"params": "lr<<1"}, "invalid-filter", "position"),
        ({"filter": " OR ".join(["tags:x"] * 33)}, "filter-too-complex", "more than 32"),
        ({"filter": "(" * 9 + "tags:x" + ")" * 9}, "filter-too-complex", "deeper than 8"),
    ],
)
async def test_a_bad_filter_is_a_400_problem_saying_where(
    client: httpx.AsyncClient, params: dict[str, str], slug: str, expected: str
) -> None:
    body = _problem(await client.get("/v1/runs", params=params), slug)
    assert expected in body["detail"]


async def test_a_syntax_error_carries_its_position(client: httpx.AsyncClient) -> None:
    body = _problem(
        await client.get("/v1/runs", params={"filter": "tags:gpu AND )"}), "invalid-filter"
    )
    assert body["position"] == 13


async def test_an_unknown_order_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/runs", params={"order_by": "params"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_values_are_bound_not_spliced(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    hostile = "x' OR '1'='1"
    assert await names(client, filter=f'name = "{hostile}"') == []
    assert await names(client, params=f'optimizer="{hostile}"') == []
    assert len(await names(client)) == 4  # nothing was dropped or changed


async def test_bulk_and_export_take_the_same_filters(
    client: httpx.AsyncClient, runs: dict[str, Any]
) -> None:
    selection = {"git_branch": "main", "filter": "params.lr < 0.005", "sensor": ["cam-1"]}
    response = await client.post(
        "/v1/runs/bulk/tags", json={"filter": selection, "add": ["picked"], "dry_run": True}
    )
    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["items"]] == [runs["alpha"]["id"]]

    exported = await client.get("/v1/runs/export", params={**selection, "fields": "name"})
    assert exported.status_code == 200, exported.text
    assert [orjson.loads(line) for line in exported.text.splitlines()] == [{"name": "Alpha-resnet"}]
    bad = await client.post(
        "/v1/runs/bulk/tags", json={"filter": {"filter": "tags:"}, "add": ["x"]}
    )
    _problem(bad, "invalid-filter")
    _problem(await client.get("/v1/runs/export", params={"git_sha": "123"}), "invalid-filter-value")


async def test_pages_stay_stable_while_runs_are_created(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    before = [
        (await create_run(client, experiment["id"], name=f"r{i}", tags=["t"]))["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    params: dict[str, Any] = {"tag": "t", "page_size": 2, "order_by": "created_at"}
    while True:
        page = (await client.get("/v1/runs", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        # Newer runs land before the first page of a newest-first list: none moves a page.
        await create_run(client, experiment["id"], name="late", tags=["t"])
        if page["next_page_token"] is None:
            break
        params["page_token"] = page["next_page_token"]
    assert seen == before[::-1]


async def test_totals_estimate_and_exact(client: httpx.AsyncClient, runs: dict[str, Any]) -> None:
    exact = (await client.get("/v1/runs", params={"tag": "gpu", "total": "exact"})).json()
    assert (exact["total_size"], exact["total_exact"]) == (2, True)
    estimate = (await client.get("/v1/runs", params={"tag": "gpu", "total": "estimate"})).json()
    assert estimate["total_exact"] is False
    assert estimate["total_size"] >= 1
    plain = (await client.get("/v1/runs", params={"tag": "gpu"})).json()
    assert plain["total_size"] is None


async def test_a_viewer_of_one_experiment_filters_only_what_it_may_read(
    database_url: str,
) -> None:
    settings = make_settings(database_url, **header_identity("X-User"))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        alice, bob = (
            httpx.AsyncClient(transport=transport, base_url="http://t", headers={"X-User": who})
            for who in ("alice", "bob")
        )
        async with alice, bob:
            shared = await create_experiment(alice, name="shared")
            private = await create_experiment(alice, name="private")
            seen = await create_run(alice, shared["id"], name="seen", git_branch="main")
            await create_run(alice, private["id"], name="hidden", git_branch="main")
            granted = await alice.put(
                f"/v1/experiments/{shared['id']}/grants/principals/bob", json={"role": "viewer"}
            )
            assert granted.status_code == 200, granted.text

            query = {"git_branch": "main", "filter": 'name:"e"', "total": "exact"}
            page = (await bob.get("/v1/runs", params=query)).json()
            assert [item["id"] for item in page["items"]] == [seen["id"]]
            assert page["total_size"] == 1
            everything = (await alice.get("/v1/runs", params=query)).json()
            assert everything["total_size"] == 2
            exported = await bob.get(
                "/v1/runs/export", params={"git_branch": "main", "fields": "name"}
            )
            assert exported.text.splitlines() == ['{"name":"seen"}']
