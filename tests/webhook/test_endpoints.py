"""Webhook endpoints over HTTP: CRUD, secrets, validation and the private-target guard."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from expsvc.event.catalogue import EVENT_TYPES
from tests.helpers import PROBLEM, create_experiment
from tests.problems import assert_problem
from tests.webhook.support import create_webhook

# A public address literal: accepted without DNS, never contacted (no relay in these tests).
PUBLIC_URL = "http://93.184.215.14/hooks/expsvc"
PROBLEMS = "https://docs.expsvc.dev/problems/"


async def test_create_shows_the_secret_once(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/webhooks",
        json={"url": PUBLIC_URL, "event_types": ["run.started", "run.finished", "run.started"]},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert created["event_types"] == ["run.finished", "run.started"]
    assert created["active"] is True
    assert created["description"] == ""
    assert created["disabled_reason"] is None
    assert created["previous_secret_expires_at"] is None
    assert created["created_by"] == "anonymous"
    assert created["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/webhooks/{created['id']}"

    read = await client.get(f"/v1/webhooks/{created['id']}")
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in created.items() if k != "secret"}
    assert read.headers["ETag"] == '"1"'
    listed = (await client.get("/v1/webhooks")).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert created["secret"] not in (await client.get("/v1/webhooks")).text


async def test_each_webhook_has_its_own_secret(client: httpx.AsyncClient) -> None:
    first = await create_webhook(client, PUBLIC_URL)
    second = await create_webhook(client, PUBLIC_URL)
    assert first["secret"] != second["secret"]


async def test_idempotent_create_replays_the_same_webhook(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-hook-1"}
    body = {"url": PUBLIC_URL}
    first = await client.post("/v1/webhooks", json=body, headers=headers)
    again = await client.post("/v1/webhooks", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len((await client.get("/v1/webhooks")).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"url": "ftp://93.184.215.14/x"}, "/body/url"),
        ({"url": "mailto:ops@example.com"}, "/body/url"),
        ({"url": "http://user:pw@93.184.215.14/x"}, "/body/url"),
        ({"url": "/relative/path"}, "/body/url"),
        ({"url": "http://93.184.215.14/" + "x" * 2048}, "/body/url"),
        ({}, "/body/url"),
        ({"url": PUBLIC_URL, "event_types": ["run.exploded"]}, "/body/event_types/0"),
        ({"url": PUBLIC_URL, "event_types": "run.started"}, "/body/event_types"),
        ({"url": PUBLIC_URL, "description": "d" * 1001}, "/body/description"),
        ({"url": PUBLIC_URL, "secret": "whsec_mine"}, "/body/secret"),
        ({"url": PUBLIC_URL, "active": "maybe"}, "/body/active"),
        ({"url": PUBLIC_URL, "experiment_ids": ["not-a-uuid"]}, "/body/experiment_ids/0"),
        (
            {"url": PUBLIC_URL, "experiment_ids": [str(uuid.uuid4()) for _ in range(101)]},
            "/body/experiment_ids",
        ),
    ],
)
async def test_create_refuses_invalid_fields(
    client: httpx.AsyncClient, body: dict[str, Any], pointer: str
) -> None:
    response = await client.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == PROBLEMS + "validation-error"
    assert pointer in [error["pointer"] for error in problem["errors"]]


async def test_all_catalogued_types_are_accepted(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL, event_types=list(EVENT_TYPES))
    assert created["event_types"] == sorted(EVENT_TYPES)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10:8080/hook", "private"),
        ("http://172.16.5.4/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.251/hook", "multicast"),
        ("http://[::ffff:10.0.0.1]/hook", "private"),
        ("http://100.64.0.1/hook", "non-global"),
    ],
)
async def test_private_targets_are_refused(client: httpx.AsyncClient, url: str, kind: str) -> None:
    response = await client.post("/v1/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEMS + "webhook-url-not-allowed"
    assert f"{kind} address" in problem["detail"]
    assert problem["errors"] == [
        {"pointer": "/body/url", "message": problem["detail"], "code": "url_not_allowed"}
    ]
    assert (await client.get("/v1/webhooks")).json()["items"] == []


async def test_unresolvable_hosts_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/webhooks", json={"url": "https://no-such-host.invalid/h"})
    assert response.status_code == 422
    assert response.json()["type"] == PROBLEMS + "webhook-url-not-allowed"
    assert "does not resolve" in response.json()["detail"]


async def test_a_patch_to_a_private_target_is_refused(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    path = f"/v1/webhooks/{created['id']}"
    response = await client.patch(path, json={"url": "http://localhost/x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/body/url"
    assert (await client.get(path)).json()["url"] == PUBLIC_URL


async def test_private_targets_when_allowed(hooks: httpx.AsyncClient) -> None:
    created = await create_webhook(hooks, "http://localhost:9/hook")
    assert created["url"] == "http://localhost:9/hook"


async def test_patch_changes_fields_and_honours_if_match(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    path = f"/v1/webhooks/{created['id']}"
    response = await client.patch(
        path,
        json={"event_types": ["capture.started"], "description": "metrics", "active": False},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["event_types"] == ["capture.started"]
    assert updated["description"] == "metrics"
    assert updated["active"] is False
    assert updated["disabled_reason"] is None  # deactivated by a client, not by the service
    assert updated["version"] == 2
    assert response.headers["ETag"] == '"2"'

    stale = await client.patch(path, json={"active": True}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 2
    again = await client.patch(path, json={"active": True, "event_types": []})
    assert again.json()["active"] is True
    assert again.json()["event_types"] == []
    assert again.json()["disabled_at"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"url": None},
        {"active": None},
        {"event_types": None},
        {"experiment_ids": None},
        {"version": 3},
        {"secret": "x"},
    ],
)
async def test_patch_refuses_nulls_and_server_fields(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    response = await client.patch(f"/v1/webhooks/{created['id']}", json=body)
    assert response.status_code == 422


async def test_experiment_filters_name_experiments_that_exist(client: httpx.AsyncClient) -> None:
    first, second = await create_experiment(client), await create_experiment(client)
    ids = sorted([first["id"], second["id"]])
    created = await create_webhook(client, PUBLIC_URL, experiment_ids=[*ids, ids[0]])
    assert created["experiment_ids"] == ids
    path = f"/v1/webhooks/{created['id']}"
    assert (await client.get(path)).json()["experiment_ids"] == ids
    untouched = await client.patch(path, json={"description": "d"})
    assert untouched.json()["experiment_ids"] == ids

    # An unknown id is refused (as one the caller may not read would be), naming it.
    unknown = str(uuid.uuid4())
    for response in (
        await client.post("/v1/webhooks", json={"url": PUBLIC_URL, "experiment_ids": [unknown]}),
        await client.patch(path, json={"experiment_ids": [first["id"], unknown]}),
    ):
        problem = assert_problem(response, 422, "webhook-experiments-not-found")
        assert problem["experiment_ids"] == [unknown]
        assert [error["pointer"] for error in problem["errors"]] == ["/body/experiment_ids"]
    assert (await client.get(path)).json()["experiment_ids"] == ids

    cleared = await client.patch(path, json={"experiment_ids": []})
    assert cleared.json()["experiment_ids"] == []
    assert cleared.json()["version"] == 3


async def test_delete(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    path = f"/v1/webhooks/{created['id']}"
    assert (await client.delete(path, headers={"If-Match": '"9"'})).status_code == 412
    assert (await client.delete(path, headers={"If-Match": '"1"'})).status_code == 204
    missing = await client.get(path)
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEMS + "webhook-not-found"
    assert (await client.delete(path)).status_code == 404
    assert (await client.patch(path, json={"active": False})).status_code == 404
    assert (await client.post(f"{path}/rotate-secret")).status_code == 404
    assert (await client.get(f"{path}/deliveries")).status_code == 404


async def test_rotate_secret(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    path = f"/v1/webhooks/{created['id']}"
    response = await client.post(f"{path}/rotate-secret", headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["version"] == 2
    assert response.headers["ETag"] == '"2"'
    overlap_end = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    updated_at = datetime.fromisoformat(rotated["updated_at"])
    assert abs(overlap_end - updated_at - timedelta(hours=24)) < timedelta(seconds=5)
    assert "secret" not in (await client.get(path)).json()
    stale = await client.post(f"{path}/rotate-secret", headers={"If-Match": '"1"'})
    assert stale.status_code == 412


async def test_list_is_paginated_newest_first(client: httpx.AsyncClient) -> None:
    ids = [(await create_webhook(client, PUBLIC_URL))["id"] for _ in range(3)]
    first = (await client.get("/v1/webhooks", params={"page_size": 2})).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    rest = (
        await client.get(
            "/v1/webhooks", params={"page_size": 2, "page_token": first["next_page_token"]}
        )
    ).json()
    assert [item["id"] for item in rest["items"]] == ids[:1]
    assert rest["next_page_token"] is None
    bad = await client.get("/v1/webhooks", params={"page_token": "nonsense"})
    assert bad.status_code == 400


async def test_unknown_deliveries_are_404(client: httpx.AsyncClient) -> None:
    created = await create_webhook(client, PUBLIC_URL)
    path = f"/v1/webhooks/{created['id']}/deliveries/0193a2b4-7c1d-7e2f-8a3b-4c5d6e7f8091"
    missing = await client.get(path)
    assert missing.status_code == 404
    assert missing.json()["type"] == PROBLEMS + "webhook-delivery-not-found"
    assert (await client.post(f"{path}/redeliver")).status_code == 404
