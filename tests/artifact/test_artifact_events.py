"""Artifact Service → us: artifact links on runs and the approved model, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.capture.support import make_run
from tests.telemetry.support import (
    ARTIFACT_PATH,
    ARTIFACT_SECRET,
    TELEMETRY_SECRET,
    event,
    results,
    send,
    signed,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def post(client: httpx.AsyncClient, *events: dict[str, Any]) -> dict[str, Any]:
    return await send(client, list(events), path=ARTIFACT_PATH, secret=ARTIFACT_SECRET)


def linked(run_id: str, artifact_id: str, at: datetime = T0, **data: Any) -> dict[str, Any]:
    data.setdefault("uri", f"s3://bucket/{artifact_id}")
    data.setdefault("kind", "model")
    return event("artifact.linked", at=at, run_id=run_id, artifact_id=artifact_id, **data)


async def artifacts(client: httpx.AsyncClient, run_id: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/runs/{run_id}/artifacts", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def audit(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/audit", params={"entity_id": run_id, "page_size": 100})
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_links_are_listed_with_their_status(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start", "finish")  # artifacts often come after the run ends
    answer = await post(
        ingest,
        linked(run["id"], "a-1"),
        linked(run["id"], "a-2", kind="dataset", status="approved", uri="s3://b/data"),
    )
    assert results(answer) == ["applied", "applied"]
    items = await artifacts(ingest, run["id"])
    assert [(a["artifact_id"], a["kind"], a["status"]) for a in items] == [
        ("a-1", "model", "pending"),
        ("a-2", "dataset", "approved"),
    ]
    assert items[0]["uri"] == "s3://bucket/a-1"
    assert items[0]["approved_model"] is False
    assert datetime.fromisoformat(items[0]["reported_at"]) == T0
    assert await artifacts(ingest, run["id"], kind="dataset") == [items[1]]
    assert await artifacts(ingest, run["id"], status="pending") == [items[0]]
    rows = [r for r in await audit(ingest, run["id"]) if r["action"] == "link_artifact"]
    assert len(rows) == 2
    assert (rows[0]["source"], rows[0]["actor"]) == ("integration", "artifact-service")


async def test_status_changes_and_the_approved_model(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    later = [T0 + timedelta(minutes=m) for m in range(6)]
    answer = await post(
        ingest,
        linked(run["id"], "m-1"),
        linked(run["id"], "m-2"),
        event("artifact.status_changed", at=later[1], run_id=run["id"], artifact_id="m-1",
              status="approved"),
        event("model.approved", at=later[2], run_id=run["id"], artifact_id="m-1",
              model_ref="registry://models/net/1"),
    )  # fmt: skip
    assert results(answer) == ["applied"] * 4
    (model,) = await artifacts(ingest, run["id"], approved_model="true")
    assert (model["artifact_id"], model["model_ref"], model["status"]) == (
        "m-1", "registry://models/net/1", "approved",
    )  # fmt: skip

    # Another approval moves the flag: one approved model per run.
    await post(
        ingest,
        event("model.approved", at=later[3], run_id=run["id"], artifact_id="m-2", model_ref="r/2"),
    )
    (model,) = await artifacts(ingest, run["id"], approved_model="true")
    assert model["artifact_id"] == "m-2"
    first = (await artifacts(ingest, run["id"]))[0]
    assert (first["approved_model"], first["model_ref"], first["status"]) == (
        False, None, "approved",
    )  # fmt: skip

    # A rejected artifact is nobody's model any more.
    await post(
        ingest,
        event("artifact.status_changed", at=later[4], run_id=run["id"], artifact_id="m-2",
              status="rejected", reason="failed eval"),
    )  # fmt: skip
    assert await artifacts(ingest, run["id"], approved_model="true") == []
    second = (await artifacts(ingest, run["id"]))[1]
    assert (second["status"], second["status_reason"]) == ("rejected", "failed eval")


async def test_late_events_do_not_overwrite_newer_state(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    newer, older = T0 + timedelta(minutes=5), T0
    await post(
        ingest,
        linked(run["id"], "x", at=older),
        event("artifact.status_changed", at=newer, run_id=run["id"], artifact_id="x",
              status="rejected"),
    )  # fmt: skip
    late = await post(
        ingest,
        event("artifact.status_changed", at=older + timedelta(minutes=1), run_id=run["id"],
              artifact_id="x", status="approved"),
        linked(run["id"], "x", at=older, uri="s3://elsewhere"),
    )  # fmt: skip
    assert [r["reason"] for r in late["results"]] == ["stale-event", "stale-event"]
    (item,) = await artifacts(ingest, run["id"])
    assert (item["status"], item["uri"]) == ("rejected", "s3://bucket/x")


async def test_refusals(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    archived = await make_run(ingest, "start", "finish", "archive")
    missing = "01a20000-0000-7000-8000-000000000000"
    answer = await post(
        ingest,
        event("artifact.status_changed", run_id=run["id"], artifact_id="nope", status="approved"),
        event("model.approved", run_id=run["id"], artifact_id="nope"),
        linked(missing, "a"),
        linked(archived["id"], "a"),
        linked(run["id"], "a", status="maybe"),
        linked(run["id"], "a", kind="Not A Kind"),
        event("artifact.deleted", run_id=run["id"], artifact_id="a"),
    )
    assert [r["reason"] for r in answer["results"]] == [
        "artifact-not-found", "artifact-not-found", "run-not-found", "run-archived",
        "invalid-event", "invalid-event", "unknown-event-type",
    ]  # fmt: skip
    assert await artifacts(ingest, run["id"]) == []


async def test_redelivery_and_unchanged_restatement(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    link = linked(run["id"], "d-1")
    assert results(await post(ingest, link, link)) == ["applied", "duplicate"]
    same = linked(run["id"], "d-1", at=T0 + timedelta(seconds=1))
    answer = await post(ingest, same)
    assert answer["results"][0]["detail"] == "no change"
    (item,) = await artifacts(ingest, run["id"])
    assert item["version"] == 2  # reported_at moved
    assert len([r for r in await audit(ingest, run["id"]) if "artifact" in r["action"]]) == 1


async def test_the_artifact_secret_is_not_the_telemetry_secret(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    body = orjson.dumps({"events": [linked(run["id"], "a")]})
    response = await ingest.post(
        ARTIFACT_PATH, content=body, headers=signed(body, TELEMETRY_SECRET)
    )
    assert response.status_code == 401
    assert await artifacts(ingest, run["id"]) == []


async def test_artifact_changes_are_events(database_url: str) -> None:
    from tests.event.support import feed_until, relay_app

    async with relay_app(database_url, artifact_service_secret=ARTIFACT_SECRET) as client:
        run = await make_run(client, "start")
        await send(
            client,
            [linked(run["id"], "e-1"),
             event("model.approved", at=T0 + timedelta(1), run_id=run["id"], artifact_id="e-1")],
            path=ARTIFACT_PATH,
            secret=ARTIFACT_SECRET,
        )  # fmt: skip
        events = await feed_until(client, 6)
    artifact_events = [e for e in events if e["type"].startswith("run.artifact")]
    assert [e["type"] for e in artifact_events] == ["run.artifact_linked", "run.artifact_updated"]
    linked_event, updated = artifact_events
    assert linked_event["subject"] == f"runs/{run['id']}"
    assert linked_event["data"]["artifact"]["artifact_id"] == "e-1"
    assert linked_event["data"]["run"]["id"] == run["id"]
    assert linked_event["data"]["source"] == "integration"
    assert updated["data"]["changed_fields"] == ["approved_model", "status"]
    assert updated["data"]["artifact"]["approved_model"] is True


async def test_listing_an_unknown_run_is_404(ingest: httpx.AsyncClient) -> None:
    response = await ingest.get("/v1/runs/01a20000-0000-7000-8000-000000000000/artifacts")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/run-not-found")


@pytest.mark.parametrize("params", [{"status": "lost"}, {"page_size": "0"}, {"bogus": "1"}])
async def test_bad_list_queries_are_refused(
    ingest: httpx.AsyncClient, params: dict[str, str]
) -> None:
    run = await make_run(ingest)
    response = await ingest.get(f"/v1/runs/{run['id']}/artifacts", params=params)
    assert response.status_code == 422, response.text


async def test_paging(ingest: httpx.AsyncClient) -> None:
    run = await make_run(ingest, "start")
    await post(ingest, *(linked(run["id"], f"p-{i}") for i in range(5)))
    seen, token = [], None
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        page = (await ingest.get(f"/v1/runs/{run['id']}/artifacts", params=params)).json()
        seen += [item["artifact_id"] for item in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [f"p-{i}" for i in range(5)]
