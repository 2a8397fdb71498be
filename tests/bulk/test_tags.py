"""POST /v1/runs/bulk/tags and /v1/experiments/bulk/tags over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.bulk.support import (
    EXPERIMENT_TAGS,
    RUN_TAGS,
    audit,
    bulk,
    bulk_ok,
    by_id,
    get,
    ids,
    row_counts,
    runs_in,
)
from tests.helpers import act, create_experiment, create_run
from tests.problems import assert_problem

MISSING = "00000000-0000-7000-8000-000000000000"
MAX_TAGS = 64


async def test_add_and_remove_on_runs(client: httpx.AsyncClient) -> None:
    experiment = await create_experiment(client)
    tagged = await create_run(client, experiment["id"], tags=["a", "keep"])
    plain = await create_run(client, experiment["id"])

    result = await bulk_ok(
        client, RUN_TAGS, ids=[tagged["id"], plain["id"]], add=["z", "b"], remove=["a"]
    )

    assert result["counts"]["ok"] == 2
    assert (await get(client, f"/v1/runs/{tagged['id']}"))["tags"] == ["b", "keep", "z"]
    after = await get(client, f"/v1/runs/{plain['id']}")
    assert (after["tags"], after["version"]) == (["b", "z"], 2)
    assert by_id(result)[plain["id"]]["version"] == 2
    rows = {r["entity_id"]: r for r in await audit(client, batch_id=result["batch_id"])}
    assert rows.keys() == {tagged["id"], plain["id"]}
    assert rows[tagged["id"]]["action"] == "update"
    assert rows[tagged["id"]]["changes"] == {
        "tags": {"before": ["a", "keep"], "after": ["b", "keep", "z"]}
    }


async def test_unchanged_entities_get_no_version_event_or_audit_row(
    client: httpx.AsyncClient, database_url: str
) -> None:
    experiment = await create_experiment(client)
    has_it = await create_run(client, experiment["id"], tags=["gpu"])
    lacks_it = await create_run(client, experiment["id"])
    before = await row_counts(database_url)

    result = await bulk_ok(
        client, RUN_TAGS, ids=[has_it["id"], lacks_it["id"]], add=["gpu"], remove=["cpu"]
    )

    items = by_id(result)
    assert items[has_it["id"]] == {
        "id": has_it["id"],
        "outcome": "unchanged",
        "status": "draft",
        "version": 1,
        "detail": None,
    }
    assert items[lacks_it["id"]]["outcome"] == "ok"
    assert (await get(client, f"/v1/runs/{has_it['id']}"))["version"] == 1
    after = await row_counts(database_url)
    assert after["audit_log"] - before["audit_log"] == 1
    assert after["outbox_events"] - before["outbox_events"] == 1

    again = await bulk_ok(client, RUN_TAGS, ids=[has_it["id"], lacks_it["id"]], add=["gpu"])
    assert again["counts"]["unchanged"] == 2
    assert await row_counts(database_url) == after


async def test_the_tag_limit_is_per_entity(client: httpx.AsyncClient, database_url: str) -> None:
    experiment = await create_experiment(client)
    full = await create_run(client, experiment["id"], tags=[f"t{i}" for i in range(MAX_TAGS)])
    roomy = await create_run(client, experiment["id"])
    before = await row_counts(database_url)

    refused = await bulk(client, RUN_TAGS, ids=[full["id"], roomy["id"]], add=["new"])
    problem = assert_problem(refused, 409, "bulk-conflict")
    (conflict,) = problem["conflicts"]
    assert conflict["id"] == full["id"]
    assert conflict["outcome"] == "limit_exceeded"
    assert conflict["detail"] == f"run {full['id']} would have 65 tags; the limit is 64"
    assert await row_counts(database_url) == before

    # Swapping one tag for another stays within the limit.
    swapped = await bulk_ok(client, RUN_TAGS, ids=[full["id"]], add=["new"], remove=["t0"])
    assert swapped["counts"]["ok"] == 1

    partial = await bulk_ok(
        client, RUN_TAGS, ids=[full["id"], roomy["id"]], add=["newer"], mode="partial"
    )
    assert by_id(partial)[full["id"]]["outcome"] == "limit_exceeded"
    assert by_id(partial)[roomy["id"]]["outcome"] == "ok"
    assert (await get(client, f"/v1/runs/{roomy['id']}"))["tags"] == ["newer"]


async def test_partial_reports_not_found_and_stale_versions(client: httpx.AsyncClient) -> None:
    runs = await runs_in(client, 2)
    result = await bulk_ok(
        client,
        RUN_TAGS,
        ids=[*ids(runs), MISSING],
        expected_versions={runs[0]["id"]: 1, runs[1]["id"]: 9},
        add=["x"],
        mode="partial",
    )
    items = by_id(result)
    assert items[runs[0]["id"]]["outcome"] == "ok"
    assert items[runs[1]["id"]]["outcome"] == "precondition_failed"
    assert items[MISSING]["outcome"] == "not_found"
    assert (await get(client, f"/v1/runs/{runs[1]['id']}"))["tags"] == []


async def test_runs_by_filter_and_dry_run(client: httpx.AsyncClient, database_url: str) -> None:
    experiment = await create_experiment(client)
    chosen = await runs_in(client, 2, "start", experiment_id=experiment["id"])
    await runs_in(client, 1, experiment_id=experiment["id"])
    query = {"experiment_id": experiment["id"], "status": ["running"]}
    before = await row_counts(database_url)

    dry = await bulk_ok(client, RUN_TAGS, filter=query, add=["hot"], dry_run=True)
    assert (dry["selected"], dry["counts"]["ok"], dry["batch_id"]) == (2, 2, None)
    assert await row_counts(database_url) == before

    result = await bulk_ok(client, RUN_TAGS, filter=query, add=["hot"])
    assert sorted(by_id(result)) == sorted(ids(chosen))
    listed = await get(client, "/v1/runs?tag=hot")
    assert sorted(r["id"] for r in listed["items"]) == sorted(ids(chosen))


async def test_experiments_by_ids_and_by_filter(client: httpx.AsyncClient) -> None:
    first = await create_experiment(client, tags=["team-a"])
    second = await create_experiment(client, tags=["team-a"])
    await act(client, f"/v1/experiments/{second['id']}", "start")
    other = await create_experiment(client, tags=["team-b"])

    by_filter = await bulk_ok(
        client,
        EXPERIMENT_TAGS,
        filter={"tag": ["team-a"], "status": ["running"]},
        add=["q3"],
        remove=["team-a"],
    )
    assert list(by_id(by_filter)) == [second["id"]]
    assert (await get(client, f"/v1/experiments/{second['id']}"))["tags"] == ["q3"]

    by_ids = await bulk_ok(
        client, EXPERIMENT_TAGS, ids=[first["id"], other["id"]], add=["q3"], mode="partial"
    )
    assert by_ids["counts"]["ok"] == 2
    rows = await audit(client, batch_id=by_ids["batch_id"])
    assert {(r["entity_type"], r["action"]) for r in rows} == {("experiment", "update")}
    assert (await get(client, f"/v1/experiments/{other['id']}"))["tags"] == ["q3", "team-b"]

    missing = await bulk(client, EXPERIMENT_TAGS, ids=[MISSING], add=["q3"])
    assert assert_problem(missing, 409, "bulk-conflict")["conflicts"][0]["outcome"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [MISSING]},  # nothing to add or remove
        {"ids": [MISSING], "add": [], "remove": []},
        {"ids": [MISSING], "add": ["x"], "remove": ["x"]},
        {"ids": [MISSING], "add": ["bad tag"]},
        {"ids": [MISSING], "add": ["-leading-dash"]},
        {"ids": [MISSING], "add": ["x" * 65]},
        {"ids": [MISSING], "add": [f"t{i}" for i in range(MAX_TAGS + 1)]},
        {"add": ["x"]},
        {"ids": [MISSING], "filter": {}, "add": ["x"]},
        {"filter": {"name_prefix": "r"}, "add": ["x"]},  # not an experiment filter
    ],
)
async def test_malformed_tag_requests_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    assert_problem(await client.post(EXPERIMENT_TAGS, json=body), 422, "validation-error")


async def test_run_filter_fields_are_validated(client: httpx.AsyncClient) -> None:
    body = {
        "filter": {
            "created_after": "2026-02-01T00:00:00Z",
            "created_before": "2026-01-01T00:00:00Z",
        },
        "add": ["x"],
    }
    assert_problem(await client.post(RUN_TAGS, json=body), 422, "validation-error")
