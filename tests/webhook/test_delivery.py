"""Events reach a real receiver as Standard Webhooks, verified with the reference verifier."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.helpers import act, create_experiment, create_run
from tests.services import free_port
from tests.webhook.receiver import Receiver, Reply
from tests.webhook.support import (
    create_webhook,
    deliveries,
    delivery_when,
    webhook_when,
)


def _finished(delivery: dict[str, Any]) -> bool:
    return delivery["status"] in {"succeeded", "failed", "abandoned"}


async def test_an_event_arrives_signed(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    webhook = await create_webhook(hooks, f"{receiver.url}/hook")
    experiment = await create_experiment(hooks, name="signed")

    (request,) = await receiver.wait_for(1)
    event = Webhook(webhook["secret"]).verify(request.body, request.headers)
    assert event["type"] == "experiment.created"
    assert event["specversion"] == "1.0"
    assert event["subject"] == f"experiments/{experiment['id']}"
    assert event["data"]["experiment"]["name"] == "signed"
    assert request.path == "/hook"
    assert request.headers["webhook-id"] == event["id"]
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert request.headers["user-agent"].startswith("expsvc-webhooks/")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(request.body + b" ", request.headers)

    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "succeeded"
    assert delivery["event_id"] == event["id"]
    assert delivery["event_type"] == "experiment.created"
    assert delivery["webhook_id"] == webhook["id"]
    assert delivery["payload"] == event
    assert delivery["attempt_count"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["next_attempt_at"] is None
    (attempt,) = delivery["attempts"]
    assert attempt["attempt"] == 1
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["response_body"] == "ok"
    assert attempt["manual"] is False


async def test_only_subscribed_types_are_delivered(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    everything = await create_webhook(hooks, f"{receiver.url}/all")
    runs = await create_webhook(hooks, f"{receiver.url}/runs", event_types=["run.started"])
    run = await create_run(hooks)
    await act(hooks, f"/v1/runs/{run['id']}", "start")

    # experiment.created, run.created, experiment.started, run.started: once the webhook that
    # takes everything has all four, the filtered one has had every chance to receive more.
    await receiver.wait_for(4, "/all")
    await delivery_when(hooks, everything["id"], _finished)
    (request,) = receiver.requests("/runs")
    assert Webhook(runs["secret"]).verify(request.body, request.headers)["type"] == "run.started"
    assert len(await deliveries(hooks, runs["id"])) == 1


async def test_only_events_of_the_named_experiments_are_delivered(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    wanted, other = await create_experiment(hooks, name="wanted"), await create_experiment(hooks)
    everything = await create_webhook(hooks, f"{receiver.url}/all")
    filtered = await create_webhook(
        hooks,
        f"{receiver.url}/wanted",
        experiment_ids=[wanted["id"]],
        event_types=["run.created", "run.started", "capture.created", "experiment.updated"],
    )
    run, other_run = await create_run(hooks, wanted["id"]), await create_run(hooks, other["id"])
    await act(hooks, f"/v1/runs/{run['id']}", "start")
    await act(hooks, f"/v1/runs/{other_run['id']}", "start")
    capture = (await hooks.post(f"/v1/runs/{run['id']}/captures", json={})).json()
    await hooks.patch(f"/v1/experiments/{other['id']}", json={"name": "renamed"})

    # 2 run.created, 2 experiment.started, 2 run.started, capture.created, experiment.updated:
    # both webhooks' deliveries of an event are written together, so once the one that takes
    # everything has all eight, the filtered one's are all written too.
    await receiver.wait_for(8, "/all")
    assert await _delivered(hooks, receiver, filtered, "/wanted", 3) == {
        ("run.created", f"runs/{run['id']}"),
        ("run.started", f"runs/{run['id']}"),
        ("capture.created", f"captures/{capture['id']}"),
    }

    # A new filter applies to the events that fan out from then on.
    response = await hooks.patch(
        f"/v1/webhooks/{filtered['id']}", json={"experiment_ids": [other["id"]]}
    )
    assert response.status_code == 200, response.text
    await hooks.patch(f"/v1/experiments/{wanted['id']}", json={"name": "not any more"})
    await hooks.patch(f"/v1/experiments/{other['id']}", json={"name": "now wanted"})
    await receiver.wait_for(10, "/all")
    received = await _delivered(hooks, receiver, filtered, "/wanted", 4)
    assert ("experiment.updated", f"experiments/{other['id']}") in received
    assert len(await deliveries(hooks, everything["id"])) == 10


async def _delivered(
    client: httpx.AsyncClient, receiver: Receiver, webhook: dict[str, Any], path: str, count: int
) -> set[tuple[str, str]]:
    """The (type, subject) of each event the webhook received, once it has ``count`` deliveries
    and they all arrived (attempts run concurrently: their order is not the log's)."""
    assert len(await deliveries(client, webhook["id"])) == count
    requests = await receiver.wait_for(count, path)
    events = [Webhook(webhook["secret"]).verify(r.body, r.headers) for r in requests]
    assert len(events) == count
    return {(event["type"], event["subject"]) for event in events}


async def test_events_before_the_webhook_existed_are_not_delivered(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    await create_experiment(hooks, name="before")
    webhook = await create_webhook(hooks, f"{receiver.url}/late")
    await create_experiment(hooks, name="after")
    (request,) = await receiver.wait_for(1)
    event = Webhook(webhook["secret"]).verify(request.body, request.headers)
    assert event["data"]["experiment"]["name"] == "after"


async def test_a_failure_is_retried_with_the_same_webhook_id(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.script(Reply(500, body=b"boom"), Reply(502))
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    first, second, third = await receiver.wait_for(3)
    assert (
        first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    )
    assert first.body == second.body == third.body
    for request in (first, second, third):
        Webhook(webhook["secret"]).verify(request.body, request.headers)
    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 3
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 502, 200]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["error"] == "the receiver answered 500"
    assert delivery["attempts"][0]["response_body"] == "boom"
    assert delivery["attempts"][2]["error"] is None
    healed = (await hooks.get(f"/v1/webhooks/{webhook['id']}")).json()
    assert healed["failing_since"] is None
    assert healed["active"] is True


async def test_a_redirect_is_a_failure(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.default = Reply(307, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "failed"
    assert len(receiver.requests()) == 4  # never followed


async def test_retries_end_when_the_schedule_does(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.default = Reply(500)
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == delivery["max_attempts"] == 4  # 1 + 3 retries
    assert delivery["next_attempt_at"] is None
    assert delivery["finished_at"] is not None
    assert len(receiver.requests()) == 4
    endpoint = (await hooks.get(f"/v1/webhooks/{webhook['id']}")).json()
    assert endpoint["active"] is True  # not failing for long enough to be disabled
    assert endpoint["failing_since"] is not None


@pytest.mark.parametrize("webhook_overrides", [{"webhook_timeout_seconds": 0.5}])
async def test_an_answer_after_the_timeout_is_a_failure(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.script(Reply(200, delay=5.0))
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "succeeded"
    late, on_time = delivery["attempts"]
    assert late["status_code"] is None
    assert late["error"] == "no complete answer within 0.5 s"
    # Cut at the timeout, well before the answer: 2 s of slack for a loaded machine's event loop
    # (a timeout five times too long still fails).
    assert 450 <= late["duration_ms"] < 2500
    assert on_time["status_code"] == 200


async def test_410_gone_disables_the_webhook(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(410))
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "abandoned"
    assert delivery["attempt_count"] == 1
    disabled = (await hooks.get(f"/v1/webhooks/{webhook['id']}")).json()
    assert disabled["active"] is False
    assert disabled["disabled_reason"] == "the receiver answered 410 Gone"
    assert disabled["disabled_at"] is not None
    assert disabled["version"] == 2

    # Subscriptions are matched when the relay fans an event out: once a webhook taking every
    # event has this one, the disabled webhook has been passed over.
    marker = await create_webhook(hooks, f"{receiver.url}/marker")
    await create_experiment(hooks, name="while disabled")
    await receiver.wait_for(1, "/marker")
    reenabled = await hooks.patch(f"/v1/webhooks/{webhook['id']}", json={"active": True})
    assert reenabled.json()["disabled_reason"] is None
    assert reenabled.json()["failing_since"] is None
    await create_experiment(hooks, name="after re-enabling")
    _, second = await receiver.wait_for(2, "/")
    event = Webhook(webhook["secret"]).verify(second.body, second.headers)
    assert event["data"]["experiment"]["name"] == "after re-enabling"
    assert len(await deliveries(hooks, webhook["id"])) == 2
    assert len(await deliveries(hooks, marker["id"])) == 2


@pytest.mark.parametrize(
    "webhook_overrides",
    [{"webhook_disable_after_hours": 0.5 / 3600, "webhook_retry_schedule": (0.1,) * 100}],
)
async def test_a_webhook_failing_too_long_is_disabled(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.default = Reply(503)
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    disabled = await webhook_when(hooks, webhook["id"], lambda w: not w["active"])
    assert disabled["disabled_reason"].startswith("every attempt failed for over 0.5 s (since ")
    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "abandoned"
    assert 2 <= delivery["attempt_count"] < 100
    attempts = len(receiver.requests())
    await create_experiment(hooks)
    assert len(receiver.requests()) == attempts


async def test_retry_after_is_honoured(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(429, headers={"Retry-After": "30"}))
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)

    delivery = await delivery_when(
        hooks, webhook["id"], lambda d: d["status"] == "pending" and d["attempt_count"] == 1
    )
    attempted = datetime.fromisoformat(delivery["last_attempt_at"])
    due = datetime.fromisoformat(delivery["next_attempt_at"])
    assert due - attempted >= timedelta(seconds=30)
    assert delivery["attempts"][0]["status_code"] == 429
    assert len(receiver.requests()) == 1

    # A redelivery does not wait for it.
    path = f"/v1/webhooks/{webhook['id']}/deliveries/{delivery['id']}/redeliver"
    assert (await hooks.post(path)).status_code == 202
    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "succeeded"


async def test_manual_redelivery_keeps_the_webhook_id(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    delivered = await delivery_when(hooks, webhook["id"], _finished)

    response = await hooks.post(
        f"/v1/webhooks/{webhook['id']}/deliveries/{delivered['id']}/redeliver"
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] in {"pending", "delivering", "succeeded"}
    first, second = await receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(webhook["secret"]).verify(second.body, second.headers)
    again = await delivery_when(
        hooks, webhook["id"], lambda d: d["attempt_count"] == 2 and _finished(d)
    )
    assert again["id"] == delivered["id"]
    assert [a["manual"] for a in again["attempts"]] == [False, True]
    assert again["max_attempts"] == 2


async def test_a_failed_redelivery_is_a_single_attempt(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.default = Reply(500)
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    failed = await delivery_when(hooks, webhook["id"], _finished)
    assert failed["status"] == "failed"

    path = f"/v1/webhooks/{webhook['id']}/deliveries/{failed['id']}/redeliver"
    assert (await hooks.post(path)).status_code == 202
    await receiver.wait_for(5)
    again = await delivery_when(
        hooks, webhook["id"], lambda d: d["attempt_count"] == 5 and _finished(d)
    )
    assert again["status"] == "failed"
    assert len(receiver.requests()) == 5


async def test_redelivery_needs_an_active_webhook(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    delivered = await delivery_when(hooks, webhook["id"], _finished)
    await hooks.patch(f"/v1/webhooks/{webhook['id']}", json={"active": False})
    response = await hooks.post(
        f"/v1/webhooks/{webhook['id']}/deliveries/{delivered['id']}/redeliver"
    )
    assert response.status_code == 409
    assert response.json()["type"].endswith("/webhook-inactive")


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await create_webhook(hooks, receiver.url)
    rotated = (await hooks.post(f"/v1/webhooks/{webhook['id']}/rotate-secret")).json()
    await create_experiment(hooks)

    (request,) = await receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(webhook["secret"]).verify(request.body, request.headers)
    assert Webhook(rotated["secret"]).verify(request.body, request.headers)
    # Each signature is one secret's, and any other secret fails.
    for signature, secret in zip(
        request.headers["webhook-signature"].split(" "),
        (rotated["secret"], webhook["secret"]),
        strict=True,
    ):
        only = {**request.headers, "webhook-signature": signature}
        Webhook(secret).verify(request.body, only)
    other = (await create_webhook(hooks, receiver.url))["secret"]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(request.body, request.headers)


@pytest.mark.parametrize("webhook_overrides", [{"webhook_secret_overlap_hours": 0}])
async def test_without_overlap_only_the_new_secret_signs(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await create_webhook(hooks, receiver.url)
    rotated = (await hooks.post(f"/v1/webhooks/{webhook['id']}/rotate-secret")).json()
    await create_experiment(hooks)

    (request,) = await receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated["secret"]).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook["secret"]).verify(request.body, request.headers)


async def test_deliveries_are_paginated_newest_first(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.script(Reply(500))  # the first delivery needs a retry; the others do not
    webhook = await create_webhook(hooks, receiver.url)
    for index in range(3):
        await create_experiment(hooks, name=f"e{index}")
    await receiver.wait_for(4)
    path = f"/v1/webhooks/{webhook['id']}/deliveries"
    await delivery_when(hooks, webhook["id"], _finished)

    first = (await hooks.get(path, params={"page_size": 2})).json()
    rest = (
        await hooks.get(path, params={"page_size": 2, "page_token": first["next_page_token"]})
    ).json()
    assert rest["next_page_token"] is None
    items = first["items"] + rest["items"]
    names = [d["payload"]["data"]["experiment"]["name"] for d in items]
    assert names == ["e2", "e1", "e0"]
    assert [d["created_at"] for d in items] == sorted(
        (d["created_at"] for d in items), reverse=True
    )

    succeeded = (await hooks.get(path, params={"status": "succeeded"})).json()["items"]
    assert len(succeeded) == 3
    assert (await hooks.get(path, params={"status": "failed"})).json()["items"] == []
    mismatched = await hooks.get(
        path, params={"page_size": 2, "status": "failed", "page_token": first["next_page_token"]}
    )
    assert mismatched.status_code == 400
    assert (await hooks.get(path, params={"status": "lost"})).status_code == 422


async def test_deleting_a_webhook_deletes_its_deliveries(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    delivered = await delivery_when(hooks, webhook["id"], _finished)
    assert (await hooks.delete(f"/v1/webhooks/{webhook['id']}")).status_code == 204
    path = f"/v1/webhooks/{webhook['id']}/deliveries/{delivered['id']}"
    assert (await hooks.get(path)).status_code == 404


async def test_delivery_metrics_are_exposed(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(500))
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    await delivery_when(hooks, webhook["id"], _finished)
    metrics = (await hooks.get("/metrics")).text
    assert "expsvc_webhook_attempts_total 2.0" in metrics
    assert "expsvc_webhook_attempt_failures_total 1.0" in metrics
    assert 'expsvc_webhook_deliveries_total{outcome="succeeded"} 1.0' in metrics
    assert "expsvc_webhook_oldest_pending_age_seconds" in metrics
    assert "expsvc_webhook_deliveries_pending" in metrics


async def test_an_unreachable_receiver_is_a_failed_attempt(hooks: httpx.AsyncClient) -> None:
    webhook = await create_webhook(hooks, f"http://127.0.0.1:{free_port()}/hook")  # nobody there
    await create_experiment(hooks)
    delivery = await delivery_when(hooks, webhook["id"], lambda d: bool(d["attempts"]))
    attempt = delivery["attempts"][-1]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("ConnectError: ")
    assert attempt["response_body"] is None


async def test_a_long_answer_is_kept_to_its_first_kib(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.default = Reply(body=b"x" * 5000)
    webhook = await create_webhook(hooks, receiver.url)
    await create_experiment(hooks)
    delivery = await delivery_when(hooks, webhook["id"], _finished)
    assert delivery["status"] == "succeeded"
    (attempt,) = delivery["attempts"]
    assert attempt["response_body"] == "x" * 1024


async def test_the_events_traceparent_goes_with_its_request(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await create_webhook(hooks, receiver.url)
    response = await hooks.post(
        "/v1/experiments", json={"name": "traced"}, headers={"traceparent": traceparent}
    )
    assert response.status_code == 201, response.text
    (request,) = await receiver.wait_for(1)
    assert request.headers["traceparent"] == json.loads(request.body)["traceparent"]
    assert request.headers["traceparent"].split("-")[1] == traceparent.split("-")[1]
