"""Lists whose filters imply the sort time is set (migration 0022's lifecycle checks), and lists
with several loose conditions (tags, params, creator) in creation order, through GET /v1/runs:
the right runs in the right order, page after page, whether the first statement (the head) or
the second answers.

A reference order is computed from every run the API returns unfiltered: descending, a run
without the sort time comes first (PostgreSQL's NULLS FIRST), then by time, then by id.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from expsvc.migrate import downgrade
from expsvc.pagination import Ordering
from expsvc.run import fields, pages
from expsvc.run.schemas import RunFilter
from tests.helpers import act, create_experiment, create_run
from tests.statements import sent_statements


@pytest.fixture
async def lifecycle(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Runs in every status, and an archived one that never started (draft → archived)."""
    experiment = await create_experiment(client)
    made = {}
    plan = (
        ("done-1", ["sweep", "gpu"], ["start", "finish"]),
        ("failed-1", ["gpu"], ["start", "fail"]),
        ("run-1", ["sweep", "gpu"], ["start"]),
        ("done-2", ["ablation", "cpu"], ["start", "finish"]),
        ("archived-done", ["prod"], ["start", "finish", "archive"]),
        ("run-2", ["ablation", "cpu"], ["start"]),
        ("archived-draft", ["sweep", "gpu"], ["archive"]),
        ("run-3", ["gpu"], ["start"]),
        ("draft-1", ["sweep", "gpu"], []),
        ("failed-2", ["prod", "v2"], ["start", "fail"]),
        ("draft-2", ["ablation", "cpu"], []),
        ("run-4", ["sweep", "gpu"], ["start"]),
        ("draft-3", ["gpu"], []),
    )
    for number, (name, tags, actions) in enumerate(plan):
        params = {"optimizer": "lion" if number % 3 else "adam"}
        run = await create_run(client, experiment["id"], name=name, tags=tags, params=params)
        for action in actions:
            body = {"reason": "exit code 1"} if action == "fail" else {}
            await act(client, f"/v1/runs/{run['id']}", action, **body)
        made[name] = run
    response = await client.get("/v1/runs", params={"page_size": 100})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    assert len(items) == len(plan)
    return items


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def reference(
    items: list[dict[str, Any]], order_by: str, descending: bool, **where: Any
) -> list[str]:
    experiments = where.get("experiment_id")
    if experiments is not None:
        items = [item for item in items if item["experiment_id"] in experiments]
    after = where.get("created_after")
    if after is not None:
        items = [item for item in items if _time(item["created_at"]) >= _time(after)]
    creators = where.get("created_by")
    if creators is not None:
        items = [item for item in items if item["created_by"] in creators]
    for pair in where.get("params", ()):  # key=value, a string value
        key, value = pair.split("=")
        items = [item for item in items if item["params"].get(key) == value]
    statuses = where.get("status")
    tags, tag_any = set(where.get("tag", ())), set(where.get("tag_any", ()))
    tag_none = set(where.get("tag_none", ()))
    chosen = [
        item
        for item in items
        if (statuses is None or item["status"] in statuses)
        and tags <= set(item["tags"])
        and (not tag_any or tag_any & set(item["tags"]))
        and not tag_none & set(item["tags"])
    ]
    present = sorted(
        (item for item in chosen if item[order_by] is not None),
        key=lambda item: (item[order_by], item["id"]),
        reverse=descending,
    )
    missing = sorted(
        (item for item in chosen if item[order_by] is None),
        key=lambda item: item["id"],
        reverse=descending,
    )
    ordered = [*missing, *present] if descending else [*present, *missing]
    return [item["name"] for item in ordered]


async def listed(client: httpx.AsyncClient, page_size: int, **params: Any) -> list[str]:
    """Every page's names, following the page tokens."""
    names: list[str] = []
    token = None
    while True:
        query = {**params, "page_size": page_size, **({"page_token": token} if token else {})}
        response = await client.get("/v1/runs", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        names += [item["name"] for item in body["items"]]
        token = body.get("next_page_token")
        if not token:
            return names


CASES = (
    # statuses that imply the time: the head skips runs without it
    ({"status": ["running"]}, "started_at"),
    ({"status": ["finished", "failed"]}, "started_at"),
    ({"status": ["finished", "failed"]}, "finished_at"),
    ({"status": ["failed"]}, "finished_at"),
    ({"status": ["running", "finished"]}, "started_at"),
    # statuses that do not: drafts, running runs and a run archived from draft lack a time
    ({"status": ["archived"]}, "started_at"),
    ({"status": ["draft", "running"]}, "started_at"),
    ({"status": ["running"]}, "finished_at"),
    ({"status": ["archived", "failed"]}, "finished_at"),
    ({}, "started_at"),
    ({}, "finished_at"),
    # several tag conditions in creation order read the head, then the GIN's matches
    ({"tag": ["sweep"], "tag_any": ["ablation", "v2"]}, "created_at"),
    ({"tag": ["sweep"], "tag_none": ["gpu"]}, "created_at"),
    ({"tag": ["sweep", "gpu"]}, "created_at"),
    ({"tag": ["gpu"], "tag_none": ["sweep"]}, "created_at"),
    ({"tag_any": ["ablation", "v2"], "tag_none": ["cpu"], "status": ["failed"]}, "created_at"),
    # so do a params condition and a creator, or one of them and a tag: PostgreSQL takes them
    # for independent, and correlated they match nothing near the creation index's start
    ({"created_by": True, "params": ["optimizer=lion"]}, "created_at"),
    ({"params": ["optimizer=lion"], "tag_none": ["gpu"]}, "created_at"),
    ({"params": ["optimizer=adam"], "tag": ["gpu"], "status": ["running", "draft"]}, "created_at"),
    ({"status": ["draft", "archived"]}, "started_at"),
    # a creator's runs in the other orders: the head walks them on migration 0028's indexes
    ({"created_by": True}, "name"),
    ({"created_by": True, "tag": ["gpu"]}, "started_at"),
    ({"created_by": True, "created_after": 5}, "finished_at"),
    ({"status": ["draft", "running", "finished", "failed"], "tag": ["gpu"]}, "finished_at"),
    # one experiment's runs: one statement, on the experiment's index of the order
    ({"experiment_id": True}, "name"),
    ({"experiment_id": True, "tag_none": ["gpu"]}, "started_at"),
    ({"experiment_id": True, "status": ["archived", "failed"]}, "finished_at"),
    # a creation range on top: the creation head starts at it (the sixth run's creation)
    ({"tag_any": ["ablation", "v2"], "tag_none": ["gpu"], "created_after": 5}, "created_at"),
    ({"tag": ["gpu"], "tag_none": ["sweep"], "created_after": 5}, "created_at"),
    # a creation range by start or end: ascending, the walk starts at it (migration 0026: no
    # run starts before it was created or ends before it started); descending, it cannot
    ({"created_after": 5}, "started_at"),
    ({"created_after": 5}, "finished_at"),
    ({"created_after": 5, "tag": ["gpu"]}, "finished_at"),
    ({"created_after": 5, "status": ["running"]}, "started_at"),
    ({"created_after": 5, "status": ["draft", "running", "finished"]}, "started_at"),
    ({"created_after": 2, "status": ["failed", "archived"]}, "finished_at"),
)


@pytest.mark.parametrize("head_rows_per_row", [pages.HEAD_ROWS_PER_ROW, 1])
@pytest.mark.parametrize(("where", "order_by"), CASES)
@pytest.mark.parametrize("order", ["desc", "asc"])
async def test_pages_hold_the_matches_in_order(
    client: httpx.AsyncClient,
    lifecycle: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    where: dict[str, Any],
    order_by: str,
    order: str,
    head_rows_per_row: int,
) -> None:
    # A head of one run per run fetched (2, 3 or 51): most pages are read by the second
    # statement, and the first page's head is only the few runs nearest the start of the order.
    monkeypatch.setattr(pages, "HEAD_ROWS_PER_ROW", head_rows_per_row)
    if "experiment_id" in where:  # the fixture's experiment: every run
        where = {**where, "experiment_id": [lifecycle[0]["experiment_id"]]}
    if "created_by" in where:  # the fixture's creator: every run
        where = {**where, "created_by": [lifecycle[0]["created_by"]]}
    if "created_after" in where:  # the creation time of the run at that place
        oldest_first = sorted(lifecycle, key=lambda item: (item["created_at"], item["id"]))
        where = {**where, "created_after": oldest_first[where["created_after"]]["created_at"]}
    expected = reference(lifecycle, order_by, order == "desc", **where)
    for page_size in (1, 2, 50):
        got = await listed(client, page_size, order_by=order_by, order=order, **where)
        assert got == expected, (page_size, where, order_by, order)


@pytest.mark.parametrize(
    ("where", "order_by", "walk"),
    [
        ({"status": ["running"]}, "started_at", pages.HeadWalk.running),
        ({"status": ["finished", "failed"]}, "started_at", pages.HeadWalk.statuses),
        ({"status": ["failed"]}, "finished_at", pages.HeadWalk.statuses),
        ({"started_after": "2026-01-01T00:00:00Z"}, "started_at", pages.HeadWalk.set),
        ({"filter": 'status = "failed" OR status = "finished"'}, "finished_at", "statuses"),
        ({"filter": 'status != "draft"'}, "started_at", pages.HeadWalk.statuses),
        ({"status": ["running", "archived"]}, "started_at", pages.HeadWalk.statuses),
        ({"status": ["running"]}, "finished_at", pages.HeadWalk.statuses),
        ({"filter": 'status = "failed" OR tags:gpu'}, "finished_at", pages.HeadWalk.all),
        ({"status": ["running"]}, "name", pages.HeadWalk.all),
        ({"status": ["running"]}, "created_at", pages.HeadWalk.statuses),
        ({"tag": ["gpu"]}, "created_at", pages.HeadWalk.all),
    ],
)
def test_the_head_walks_only_the_admitted_statuses_or_past_missing_times(
    where: dict[str, Any], order_by: str, walk: str
) -> None:
    shape, values = fields.filter_values(RunFilter.model_validate(where))
    assert pages.head_walk(shape, values, order_by) == walk


@pytest.mark.parametrize(
    ("where", "head_first"),
    [
        ({"created_by": ["erin"], "params": ["optimizer=lion"]}, True),
        ({"tag": ["sweep"], "tag_none": ["gpu"]}, True),
        ({"params": ["optimizer=lion"], "tag_any": ["gpu", "cpu"]}, True),
        ({"params": ["optimizer=lion", "batch=32"]}, True),
        ({"created_by": ["erin"], "status": ["running"]}, False),
        ({"params": ["optimizer=lion"], "status": ["running"]}, False),
        ({"tag": ["sweep"], "created_after": "2026-01-01T00:00:00Z"}, False),
        # a name pattern: PostgreSQL's estimate of its runs rests on ANALYZE's sample of names
        ({"name_contains": "run-4242"}, True),
        ({"name_contains": "run-4242", "status": ["running"]}, True),
        ({"name_prefix": "vit-run-42", "tag": ["gpu"]}, True),
        ({"filter": 'name = "vit-run-42"', "tag": ["gpu"]}, False),
        # one experiment's runs: the planner walks them, at most the experiment's runs
        ({"experiment_id": [str(uuid.uuid4())], "created_by": ["erin"], "tag": ["gpu"]}, False),
    ],
)
def test_loose_conditions_in_creation_order_read_the_head_first(
    where: dict[str, Any], head_first: bool
) -> None:
    shape, values = fields.filter_values(RunFilter.model_validate(where))
    ordering = Ordering("created_at", descending=True)
    _, second = pages.page_statements(shape, values, ordering, None)
    assert (second is not None) == head_first


@pytest.mark.parametrize(
    "where",
    [
        {"tag": ["gpu"], "tag_none": ["gpu"]},
        {"tag_any": ["gpu", "cpu"], "tag_none": ["cpu", "gpu", "prod"]},
        {"status": ["running"], "filter": 'status = "failed"'},
        {"filter": 'tags:gpu AND NOT tags:gpu AND status = "running"'},
        {"status": ["draft"], "filter": 'status != "draft"'},
    ],
)
async def test_a_filter_that_selects_nothing_is_answered_without_reading(
    client: httpx.AsyncClient, lifecycle: list[dict[str, Any]], where: dict[str, Any]
) -> None:
    shape, values = fields.filter_values(RunFilter.model_validate(where))
    assert pages.selects_nothing(shape, values)
    for total in ("exact", "estimate"):
        response = await client.get("/v1/runs", params={**where, "total": total})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["items"], body["total_size"], body["total_exact"]) == ([], 0, True)


@pytest.mark.parametrize(
    "where",
    [
        {"tag": ["gpu"], "tag_none": ["cpu"]},
        {"tag_any": ["gpu", "cpu"], "tag_none": ["cpu"]},
        {"status": ["running", "failed"], "filter": 'status = "failed"'},
        {"filter": "NOT tags:gpu OR tags:gpu"},
        {"tag": ["sweep", "gpu"], "filter": "NOT (tags:sweep AND tags:cpu)"},
    ],
)
def test_a_filter_that_may_select_runs_is_not_taken_for_empty(where: dict[str, Any]) -> None:
    shape, values = fields.filter_values(RunFilter.model_validate(where))
    assert not pages.selects_nothing(shape, values)


@pytest.mark.parametrize(
    ("found", "walked", "longer"),
    [
        (0, 1530, None),  # nothing to predict from: the sorted matches
        (5, 1530, None),  # a page predicted past 10 heads
        (8, 1530, 14631),
        (39, 1530, 3002),
        (50, 1530, 2341),
    ],
)
def test_a_short_head_walks_further_when_its_matches_predict_a_page_near(
    found: int, walked: int, longer: int | None
) -> None:
    assert pages.longer_head(found, 51, walked) == longer


async def test_a_page_the_longer_head_finds_is_not_read_sorted(
    app: FastAPI,
    client: httpx.AsyncClient,
    lifecycle: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pages of 2 (3 runs fetched): the head walks 3 runs by name and finds 2 gpu runs
    # (archived-draft, done-1), so it walks 7 and finds the page; the sorted matches are never
    # read.
    monkeypatch.setattr(pages, "HEAD_ROWS_PER_ROW", 1)
    where = {"tag": ["gpu"], "order_by": "name", "order": "asc"}
    with sent_statements(app.state.database.engine) as sent:
        response = await client.get("/v1/runs", params={**where, "page_size": 2})
    assert response.status_code == 200, response.text
    assert [item["name"] for item in response.json()["items"]] == ["archived-draft", "done-1"]
    runs_read = [statement for statement in sent if "FROM runs" in statement]
    assert len(runs_read) == 2, runs_read
    assert runs_read[0] == runs_read[1]  # the head twice, with a longer walk bound
    assert await listed(client, 2, **where) == reference(lifecycle, "name", False, tag=["gpu"])


async def test_where_0026_is_rolled_back_the_times_order_is_not_relied_on(
    client: httpx.AsyncClient, lifecycle: list[dict[str, Any]], database_url: str
) -> None:
    # 0026 rolled back under this code (releases.toml: it runs on 0025), then runs written
    # after X: three in order, and one out of order, as nothing puts it in order any more
    # (started a day before it was created).
    await asyncio.to_thread(downgrade, database_url, "0025")
    connection = await asyncpg.connect(database_url)
    try:
        after = await connection.fetchval("SELECT now()")
        await connection.execute(
            "INSERT INTO runs (id, experiment_id, name, created_by, status, started_at)"
            " SELECT gen_random_uuid(), experiment_id, name, 'carol', 'running', started"
            " FROM (SELECT experiment_id FROM runs LIMIT 1) AS r, (VALUES"
            " ('in order 1', now()), ('in order 2', now()), ('in order 3', now()),"
            " ('early start', now() - interval '1 day')) AS v (name, started)"
        )
    finally:
        await connection.close()
    response = await client.get("/v1/runs", params={"page_size": 100})
    where = {"created_after": after.isoformat()}
    expected = reference(response.json()["items"], "started_at", False, **where)
    assert expected[0] == "early start"
    for page_size in (1, 2, 50):
        got = await listed(client, page_size, order_by="started_at", order="asc", **where)
        assert got == expected, page_size
