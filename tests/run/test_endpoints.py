from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.helpers import PROBLEM, act, create_experiment, create_run


async def test_create_in_experiment_and_read_back(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    response = await client.post(
        f"/v1/experiments/{experiment['id']}/runs",
        json={
            "name": "r1",
            "tags": ["z", "a"],
            "params": {"lr": 0.01},
            "participants": ["bob"],
            "git_sha": "0123abcd",
            "git_branch": "main",
            "git_repository": "https://git.example/repo.git",
        },
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["experiment_id"] == experiment["id"]
    assert run["status"] == "draft"
    assert run["tags"] == ["a", "z"]
    assert run["git_sha"] == "0123abcd"
    assert run["started_at"] is None
    assert response.headers["location"] == f"/v1/runs/{run['id']}"
    assert response.headers["etag"] == '"1"'
    fetched = await client.get(f"/v1/runs/{run['id']}")
    assert fetched.json() == run


async def test_create_with_experiment_in_body(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    response = await client.post("/v1/runs", json={"experiment_id": experiment["id"], "name": "r"})
    assert response.status_code == 201
    assert response.json()["experiment_id"] == experiment["id"]


async def test_create_in_unknown_experiment_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/v1/experiments/{uuid.uuid4()}/runs", json={"name": "r"})
    assert response.status_code == 404
    assert response.json()["type"].endswith("/experiment-not-found")
    response = await client.post("/v1/runs", json={"experiment_id": str(uuid.uuid4()), "name": "r"})
    assert response.status_code == 404


@pytest.mark.parametrize("closing", ["finish", "fail", "archive"])
async def test_create_in_closed_experiment_is_409(client: httpx.AsyncClient, closing: str) -> None:
    experiment = await create_experiment(client)
    path = f"/v1/experiments/{experiment['id']}"
    if closing != "archive":
        await act(client, path, "start")
    body = {"reason": "done"} if closing == "fail" else {}
    await act(client, path, closing, **body)
    response = await client.post(f"{path}/runs", json={"name": "late"})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/experiment-closed")


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": "x" * 257}, "/body/name"),
        ({"name": "r", "git_sha": "XYZ"}, "/body/git_sha"),
        ({"name": "r", "git_sha": "abc"}, "/body/git_sha"),
        ({"name": "r", "status": "running"}, "/body/status"),
        ({"name": "r", "started_at": "2026-01-01T00:00:00Z"}, "/body/started_at"),
        ({"name": "r", "tags": ["ok", "not ok"]}, "/body/tags/1"),
        ({"name": "r", "params": {"k": "v" * 66_000}}, "/body/params"),
        ({"name": "r", "git_branch": "b" * 257}, "/body/git_branch"),
    ],
)
async def test_create_refuses_bad_input(
    client: httpx.AsyncClient, body: dict[str, object], pointer: str
) -> None:
    experiment = await create_experiment(client)
    response = await client.post(f"/v1/experiments/{experiment['id']}/runs", json=body)
    assert response.status_code == 422, response.text
    assert pointer in [item["pointer"] for item in response.json()["errors"]]
    listed = await client.get("/v1/runs", params={"experiment_id": experiment["id"]})
    assert listed.json()["items"] == []


async def test_get_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/runs/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/run-not-found")


async def test_patch_updates_fields_and_clears_git(client: httpx.AsyncClient) -> None:
    run = await create_run(client, git_sha="abcdef0", git_branch="dev")
    url = f"/v1/runs/{run['id']}"
    response = await client.patch(
        url,
        json={"name": "renamed", "tags": ["t"], "git_branch": None},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "renamed"
    assert updated["tags"] == ["t"]
    assert updated["git_branch"] is None
    assert updated["git_sha"] == "abcdef0"
    assert updated["version"] == 2
    stale = await client.patch(url, json={"name": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await client.get(url)).json()["name"] == "renamed"
    assert (await client.patch(url, json={"name": None})).status_code == 422
    assert (await client.patch(f"/v1/runs/{uuid.uuid4()}", json={"name": "x"})).status_code == 404


async def test_two_writers_from_one_etag_second_gets_412(client: httpx.AsyncClient) -> None:
    run = await create_run(client)
    url = f"/v1/runs/{run['id']}"
    etag = (await client.get(url)).headers["etag"]
    first = await client.patch(url, json={"tags": ["first"]}, headers={"If-Match": etag})
    second = await client.patch(url, json={"params": {"second": 1}}, headers={"If-Match": etag})
    assert first.status_code == 200
    assert second.status_code == 412
    final = (await client.get(url)).json()
    assert final["tags"] == ["first"]
    assert final["params"] == {}


async def _ids(client: httpx.AsyncClient, **params: object) -> list[str]:
    response = await client.get("/v1/runs", params={"page_size": 1000, **params})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_filters(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    other = await create_experiment(client)
    a = await create_run(client, experiment["id"], name="alpha-1", tags=["gpu", "prod"])
    b = await create_run(client, experiment["id"], name="alpha-2", tags=["gpu"])
    c = await create_run(client, other["id"], name="beta_1")
    await act(client, f"/v1/runs/{b['id']}", "start")
    await act(client, f"/v1/runs/{c['id']}", "start")
    await act(client, f"/v1/runs/{c['id']}", "finish")

    assert set(await _ids(client, experiment_id=experiment["id"])) == {a["id"], b["id"]}
    assert await _ids(client, tag=["gpu", "prod"]) == [a["id"]]
    assert set(await _ids(client, status=["running", "finished"])) == {b["id"], c["id"]}
    assert set(await _ids(client, name_prefix="alpha")) == {a["id"], b["id"]}
    assert await _ids(client, name_prefix="beta_") == [c["id"]]
    assert await _ids(client, name_prefix="beta%") == []  # LIKE wildcards are literal
    assert await _ids(client, status="draft", tag="gpu") == [a["id"]]

    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    assert set(await _ids(client, started_after=(now - hour).isoformat())) == {b["id"], c["id"]}
    assert await _ids(client, started_before=(now - hour).isoformat()) == []
    assert await _ids(client, finished_after=(now - hour).isoformat()) == [c["id"]]
    assert len(await _ids(client, created_before=(now + hour).isoformat())) == 3
    assert await _ids(client, created_after=(now + hour).isoformat()) == []


@pytest.mark.parametrize(
    "params",
    [
        {"order_by": "params"},
        {"order": "sideways"},
        {"status": "zombie"},
        {"experiment_id": "nope"},
        {"created_after": "yesterday"},
        {"created_after": "2026-02-01T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
        {"unknown_filter": "1"},
        {"page_size": 5000},
    ],
)
async def test_list_refuses_bad_query(client: httpx.AsyncClient, params: dict[str, object]) -> None:
    response = await client.get("/v1/runs", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    ("order_by", "order"),
    [
        ("created_at", "desc"),
        ("created_at", "asc"),
        ("name", "asc"),
        ("name", "desc"),
        ("started_at", "asc"),
        ("started_at", "desc"),
        ("finished_at", "desc"),
    ],
)
async def test_paging_in_every_order_visits_each_run_once(
    client: httpx.AsyncClient, order_by: str, order: str
) -> None:
    experiment = await create_experiment(client)
    names = ["b", "a", "c", "a", "d", "e", "b"]
    runs = [await create_run(client, experiment["id"], name=name) for name in names]
    for run in runs[:4]:  # some started, some not: NULLs must page correctly too
        await act(client, f"/v1/runs/{run['id']}", "start")
    await act(client, f"/v1/runs/{runs[0]['id']}", "finish")

    seen: list[dict[str, object]] = []
    token: str | None = None
    while True:
        params: dict[str, object] = {"order_by": order_by, "order": order, "page_size": 2}
        if token:
            params["page_token"] = token
        response = await client.get("/v1/runs", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["items"])
        token = page["next_page_token"]
        if token is None:
            break
    assert sorted(r["id"] for r in seen) == sorted(r["id"] for r in runs)
    assert len(seen) == len(runs)

    # The order is the documented one: by the column (NULL largest), then id.
    def key(run: dict[str, object]) -> tuple[int, str, str]:
        value = run[order_by]
        return (1, "", str(run["id"])) if value is None else (0, str(value), str(run["id"]))

    expected = sorted(seen, key=key, reverse=order == "desc")
    assert [r["id"] for r in seen] == [r["id"] for r in expected]


async def test_page_token_from_another_ordering_is_refused(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    for _ in range(3):
        await create_run(client, experiment["id"])
    page = (await client.get("/v1/runs", params={"page_size": 1})).json()
    response = await client.get(
        "/v1/runs", params={"page_size": 1, "order": "asc", "page_token": page["next_page_token"]}
    )
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-page-token")
