"""No metric label takes its value from a request: every label's values come from a closed set.

The test drives the API with values a client chooses (names, tags, reasons, request ids, paths,
methods, neighbours' event fields), then reads /metrics: the marker it used must appear nowhere,
and every label of every series must hold a value from that label's closed set below. A new
label fails the test until its closed set is written down here.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from expsvc.card.metrics_client import MetricsOutcome
from expsvc.event.catalogue import EVENT_TYPES
from expsvc.lifecycle import Action, EntityKind, Source
from expsvc.observability.domain import (
    DRIFT_KINDS,
    INBOUND_OUTCOMES,
    INBOUND_SOURCES,
    KNOWN_REASONS,
)
from tests.helpers import act, create_experiment, create_run

MARKER = f"zz{uuid.uuid4().hex[:12]}"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
_OPEN = {"none", "other"}


def closed_sets(app: FastAPI) -> dict[str, set[str] | None]:
    """Each label's allowed values; None: a number (bucket bounds, status codes)."""
    routes = {str(getattr(route, "path", "")) for route in app.routes} | {"<unmatched>"}
    return {
        "http_route": routes,
        "http_request_method": _METHODS | {"_OTHER"},
        "http_response_status_code": None,
        "le": None,
        "entity": {kind.value for kind in EntityKind},
        "action": {action.value for action in Action} | _OPEN,
        "source": {source.value for source in Source} | INBOUND_SOURCES | _OPEN,
        "reason": set(KNOWN_REASONS) | _OPEN,
        "outcome": set(INBOUND_OUTCOMES)
        | {"ok", "skipped", "failed", "succeeded", "abandoned"}
        | {outcome.value for outcome in MetricsOutcome}
        | _OPEN,
        "kind": set(DRIFT_KINDS),
        "state": {"in_use", "idle"},
        "sink": {"feed", "redis", "kafka", "webhooks"},
        "job": set(app.state.worker.names),
        "status": {"failed", "abandoned"},
        "type": set(EVENT_TYPES),
    }


async def _drive(client: httpx.AsyncClient) -> None:
    headers = {"X-Request-ID": MARKER, "traceparent": f"00-{MARKER}-{MARKER}-01"}
    experiment = await create_experiment(client, name=MARKER, tags=[MARKER])
    run = await create_run(client, experiment["id"], name=MARKER, tags=[MARKER])
    await act(client, f"/v1/runs/{run['id']}", "start")
    await act(client, f"/v1/runs/{run['id']}", "fail", reason=MARKER)
    await client.get(f"/v1/runs/{MARKER}", headers=headers)
    await client.get(f"/{MARKER}/{MARKER}", headers=headers)
    await client.request(MARKER.upper(), "/v1/runs", headers=headers)
    await client.post("/v1/runs/bulk/transition", json={"action": MARKER, "ids": [MARKER]})
    await client.get("/v1/runs", params={"filter": f"name = '{MARKER}'", MARKER: MARKER})


async def test_no_label_takes_a_value_from_the_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _drive(client)
    exposition = (await client.get("/metrics")).text
    assert MARKER not in exposition
    assert MARKER.upper() not in exposition
    allowed = closed_sets(app)
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            for label, value in sample.labels.items():
                assert label in allowed, f"{sample.name}: label {label!r} has no closed set here"
                values = allowed[label]
                if values is None:
                    float(value)  # a number
                else:
                    assert value in values, f"{sample.name}{{{label}={value!r}}}"
