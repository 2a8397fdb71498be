"""Schemathesis against the real app on a real PostgreSQL database.

Every operation of the app's own OpenAPI document gets generated requests (valid and invalid),
sent in-process to the ASGI app, which talks to a fresh database of this module. A response
fails the test when it is a 5xx, or has a status code, content type, header or body the
operation does not declare. ``EXPSVC_SCHEMATHESIS_EXAMPLES`` sets the examples per operation.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.types import Receive, Scope, Send

from expsvc.app import create_app
from expsvc.openapi import build_openapi
from tests.conftest import _admin, _plain_url, make_settings

# Examples per operation: small so the suite stays fast; raise it to explore more.
MAX_EXAMPLES = int(os.environ.get("EXPSVC_SCHEMATHESIS_EXAMPLES", "8"))
# A Server-Sent Events stream never ends: read what it sends in this long, then judge that.
STREAM_SECONDS = 0.3
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


schema = schemathesis.openapi.from_dict(build_openapi())


class LoopbackPeer:
    """Schemathesis calls the app through Starlette's TestClient, whose peer is the name
    ``testclient``, not an address. With identity off (the default mode, none) only loopback
    peers are served, so the fuzzed requests come from 127.0.0.1, as a local caller's would."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": ("127.0.0.1", 50000)}
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def api(server_url: str, template_database: str) -> Iterator[LoopbackPeer]:
    """The app on a fresh database of its own, shared by every operation of this module.

    Shared on purpose: what one operation creates, the next one lists (and a database per
    operation would cost more than the requests). Schemathesis runs the app's lifespan (outbox
    relay, purge job) in its own event loop; it is ended here.
    """
    name = f"expsvc_st_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    try:
        yield LoopbackPeer(create_app(make_settings(_plain_url(server_url, name))))
    finally:
        try:
            schemathesis_asgi.shutdown_lifespans()
        finally:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def targets(api: LoopbackPeer) -> dict[str, list[str]]:
    """Real entities for the path parameters, fresh for each operation.

    Random UUIDs only ever reach the 404 branch; a share of the generated ids is swapped for
    these, so the same fuzzed requests also hit existing resources in several statuses.
    """
    with schemathesis_asgi.get_client(api) as http:

        def create(path: str, body: dict[str, object] | None = None) -> str:
            response = http.post(path, json=body or {})
            assert response.status_code in (200, 201), response.text
            return str(response.json()["id"])

        experiment = create("/v1/experiments", {"name": "schemathesis"})
        draft_run = create(f"/v1/experiments/{experiment}/runs", {"name": "draft"})
        running_run = create(f"/v1/experiments/{experiment}/runs", {"name": "running"})
        create(f"/v1/runs/{running_run}/start")
        capture = create(f"/v1/runs/{running_run}/captures", {"sensors": ["cam-1"]})
    return {
        "experiment_id": [experiment],
        "run_id": [draft_run, running_run],
        "capture_id": [capture],
    }


def _aim_at(case: schemathesis.Case, targets: dict[str, list[str]]) -> None:
    """Swap a generated UUID path parameter for a real id, chosen by the UUID itself (so the
    choice is as reproducible as the case); one slot in ``len + 1`` keeps the random id."""
    for name, value in (case.path_parameters or {}).items():
        choices = targets.get(name, [])
        try:
            slot = uuid.UUID(str(value)).int % (len(choices) + 1)
        except ValueError:
            continue  # an invalid id is a negative case: keep it
        if slot < len(choices):
            case.path_parameters[name] = choices[slot]


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    # CI replays the same examples; a developer's run explores new ones.
    derandomize=os.environ.get("CI", "").lower() == "true",
    # The targets are shared by the examples of one operation on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, api: LoopbackPeer, targets: dict[str, list[str]]
) -> None:
    _aim_at(case, targets)
    timeout = STREAM_SECONDS if _streams(case) else None
    case.call_and_validate(app=api, checks=CHECKS, timeout=timeout)


def _streams(case: schemathesis.Case) -> bool:
    success = case.operation.definition.raw["responses"].get("200", {})
    return "text/event-stream" in success.get("content", {})
