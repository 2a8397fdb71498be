"""Schemathesis, every check (``--checks all``), stateful phase included, against the real app.

The app runs in process on a fresh PostgreSQL database of this module, in ``jwt`` mode: every
request carries a bearer token of an admin, so the whole API is reachable, and ``ignored_auth``
is meaningful (the document the app serves in this mode declares the bearer scheme; the check
sends each operation again without it, and with a wrong one, and expects 401).

- ``test_api_conforms_to_its_schema``: per operation, the examples, coverage (missing required
  headers, undeclared methods, boundary values) and fuzzing phases, valid and invalid requests.
- ``test_api_conforms_statefully``: the stateful phase: sequences that follow the document's
  links (create experiment → get / update / transitions / runs, create run → captures, ...).
- ``test_event_stream_conforms_to_its_schema``: ``GET /v1/events/stream``, which the two above
  leave out (:data:`STREAMING`): a Server-Sent Events stream never ends, so a generic call can
  only give up on it by a read timeout, which the checks count as a failure. Here its events
  are read as a client does and each is validated against the declared event schema; its
  refusals (malformed or out-of-range ``Last-Event-ID``, ``after``, ``type``) are problem+json.

A failure is any check's failure, except the documented rejections in
:data:`DOCUMENTED_REJECTIONS`, each answering a request the document cannot describe as
invalid, each with its reason.

Deterministic: Hypothesis runs derandomized (its seed fixed by each test), so CI replays the
same requests every run and a failure reproduces. Duration: under 90 s on 2 cores with the
defaults. Deeper local runs, exploring new inputs: ``EXPSVC_SCHEMATHESIS_EXAMPLES`` (examples
per operation and phase), ``EXPSVC_SCHEMATHESIS_SCENARIOS`` (stateful scenarios) and
``EXPSVC_SCHEMATHESIS_RANDOM=1`` (a fresh seed each run), e.g. 50, 200 and 1.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from jsonschema_rs import Draft202012Validator, validator_for
from pydantic import SecretStr
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from starlette.types import Receive, Scope, Send

from expsvc.app import create_app
from expsvc.openapi import build_openapi
from expsvc.secret.keys import generate_key
from expsvc.settings import Settings
from tests.conftest import _admin, _plain_url, make_settings
from tests.event.support import live_app
from tests.helpers import act, create_experiment, create_run

MAX_EXAMPLES = int(os.environ.get("EXPSVC_SCHEMATHESIS_EXAMPLES", "2"))
SCENARIOS = int(os.environ.get("EXPSVC_SCHEMATHESIS_SCENARIOS", "10"))
# Left out of the generic phases, with why; tested by test_event_stream_conforms_to_its_schema.
STREAMING = {
    "stream_events": "an SSE stream never ends: a generic call can only stop reading it by a "
    "read timeout, which the checks report as a failure",
}

ADMIN = "schemathesis"
JWT_SECRET = "schemathesis-hs256-secret-of-at-least-32-bytes"
AUTH = {
    "auth_mode": "jwt",
    "jwt_issuer": "https://gateway.test",
    "jwt_audience": "expsvc",
    "jwt_hs256_secret": JWT_SECRET,
    "admin_principals": ADMIN,
    # Configured, so the signed endpoints are reached: without a signature they answer 401.
    "telemetry_ingest_secret": "whsec_" + "c2NoZW1hdGhlc2lzLXRlbGVtZXRyeS1zZWNyZXQ=",
    "artifact_service_secret": "whsec_" + "c2NoZW1hdGhlc2lzLWFydGlmYWN0cy1zZWNyZXQ=",
}

# Requests the document allows and the server refuses, where the document cannot say more:
# problem type (slug) → why. Anything else a check finds fails the test.
DOCUMENTED_REJECTIONS = {
    # RFC 9110 13.1.1: a well-formed If-Match naming another version than the current one
    # must be refused with 412; which version is current is state, not syntax.
    "precondition-failed": "If-Match names a version the resource is no longer at",
    # The Idempotency-Key draft (section 2.7): a key reused for a different request is 422.
    # Schemathesis draws the same short keys for unrelated requests.
    "idempotency-key-reused": "the same Idempotency-Key was used for another request",
    # A page token is opaque: the document declares its alphabet and length; only the server
    # can tell one it issued (for this very query) from other base64url text.
    "invalid-page-token": "a page_token the server did not issue for this query",
    # A filter expression's grammar (docs/filtering.md) is more than a pattern can say; the
    # document declares its length, the server parses it (400 with the position).
    "invalid-filter": "a filter expression outside the filter grammar",
    # Whether a host resolves, and to a public address, is DNS at request time (SSRF guard).
    "webhook-url-not-allowed": "a webhook URL whose host does not resolve to a public address",
}
# 422 validation errors the document cannot express, by the text of their detail.
DOCUMENTED_VALIDATION = {
    # OpenAPI describes each query parameter alone: "after < before" spans two.
    "must be earlier than": "a range whose lower bound is not below its upper bound",
    # JSON allows "\u0000" and lone surrogates in any string, PostgreSQL cannot store them;
    # params, being free-form JSON, cannot carry a pattern for every nested string.
    "contains NUL (U+0000) or an unpaired surrogate": "text PostgreSQL cannot store",
    # Relations between two fields JSON Schema has no keyword for (the others are declared:
    # ids or filter, add or remove, a reason to fail).
    "is both added and removed": "a tag both in add and in remove",
    "expected_versions names ids not in ids": "expected_versions keys that are not in ids",
    # IDNA 2008 (RFC 5891, 5892): which code points a host name label may hold, and in which
    # contexts, are tables and rules, not a pattern; the pattern admits Unicode labels.
    "Invalid IDNA hostname": "an internationalized host name IDNA does not allow",
    "Invalid A-label": "an xn-- label that is not the Punycode of an allowed name (IDNA)",
    # RFC 8259 section 6 lets an implementation limit the range of numbers; params (free-form
    # JSON, its description says so) holds integers of 64 bits.
    "Integer exceeds 64-bit range": "an integer in params beyond 64 bits",
}


def _documented(response: Any) -> bool:
    try:
        problem = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(problem, dict):
        return False
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    if slug in DOCUMENTED_REJECTIONS:
        return True
    detail = str(problem.get("detail", ""))
    return slug == "validation-error" and any(text in detail for text in DOCUMENTED_VALIDATION)


def positive_data_acceptance_but_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, with :data:`DOCUMENTED_REJECTIONS` excused."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if _documented(response) or _has_invalid_part(case):
            return None
        raise


def _has_invalid_part(case: schemathesis.Case) -> bool:
    """A case labelled valid as a whole though one of its parts is invalid: the coverage phase
    of schemathesis 4.32 varies one part of a request (a body property) and can keep another
    part (an ``If-Match: 0`` header) from a negative case. Not a valid request: each header,
    query and path parameter is checked against its declared schema here."""
    meta = case.meta
    if meta is not None and any(not info.mode.is_positive for info in meta.components.values()):
        return True
    sent = {
        "header": {name.lower(): value for name, value in (case.headers or {}).items()},
        "query": case.query or {},
        "path": case.path_parameters or {},
    }
    for parameter in case.operation.definition.raw.get("parameters", []):
        where = parameter["in"]
        name = parameter["name"].lower() if where == "header" else parameter["name"]
        if where not in sent or name not in sent[where]:
            continue
        value = sent[where][name]
        declared = parameter.get("schema", {})
        values = value if isinstance(value, list) and declared.get("type") != "array" else [value]
        if declared.get("type") == "string" and not all(
            isinstance(item, str) and validator_for(declared).is_valid(item) for item in values
        ):
            return True
    return False


def _all_checks() -> list[Any]:
    """What ``--checks all`` runs in the installed schemathesis, one of them wrapped."""
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check is not positive_data_acceptance]
    assert negative_data_rejection in checks  # the registry is what we think it is
    return [*checks, positive_data_acceptance_but_documented]


ALL_CHECKS = _all_checks()

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
        "max-stream-events": 8,
    }
)

# The document this app serves in jwt mode: the committed one (none mode) plus the bearer
# scheme. The engine is created lazily and never connects while building it.
_DOCUMENT_SETTINGS = Settings(
    database_url="postgresql://openapi@127.0.0.1:1/none",
    secret_keys=SecretStr(generate_key()),
    **AUTH,  # type: ignore[arg-type]
)
DOCUMENT = create_app(_DOCUMENT_SETTINGS).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
for _operation_id in STREAMING:
    schema = schema.exclude(operation_id=_operation_id)


def _bearer(principal: str = ADMIN) -> str:
    now = int(time.time())
    claims = {
        "sub": principal,
        "iss": AUTH["jwt_issuer"],
        "aud": AUTH["jwt_audience"],
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@schema.auth()
class AdminBearer:
    """Every request as the admin ``schemathesis`` (a fresh token each run: it expires)."""

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return _bearer()

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


class LoopbackPeer:
    """The app under test, set by the ``api`` fixture; the schema's ASGI app from the start, so
    every request schemathesis sends (checks' probes included) reaches it.

    Schemathesis calls the app through Starlette's TestClient, whose peer is the name
    ``testclient``, not an address; the audit log stores the caller's address, so the requests
    come from 127.0.0.1, as a local caller's would."""

    app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the api fixture sets the app"
        if scope["type"] == "http":
            scope = {**scope, "client": ("127.0.0.1", 50000)}
        await self.app(scope, receive, send)


PEER = LoopbackPeer()
schema.app = PEER


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
        PEER.app = create_app(make_settings(_plain_url(server_url, name), **AUTH))
        yield PEER
    finally:
        PEER.app = None
        try:
            schemathesis_asgi.shutdown_lifespans()
        finally:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Targets:
    """Real entities for the path parameters, made on first use for each operation (an
    operation without ids needs none).

    Random UUIDs only ever reach the 404 branch; a share of the generated ids is swapped for
    these, so the same fuzzed requests also hit existing resources in several statuses.
    """

    def __init__(self, api: LoopbackPeer) -> None:
        self.api = api
        self.made: dict[str, list[str]] | None = None

    def get(self) -> dict[str, list[str]]:
        if self.made is None:
            self.made = self._make()
        return self.made

    def _make(self) -> dict[str, list[str]]:
        with schemathesis_asgi.get_client(self.api) as http:
            http.headers["Authorization"] = f"Bearer {_bearer()}"

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


@pytest.fixture
def targets(api: LoopbackPeer) -> Targets:
    """Fresh for each operation: what one operation's examples did (archive, delete) does not
    leave the next operation only 404s."""
    return Targets(api)


def _aim_at(case: schemathesis.Case, targets: Targets) -> None:
    """Swap a generated UUID path parameter for a real id, chosen by the UUID itself (so the
    choice is as reproducible as the case); one slot in ``len + 1`` keeps the random id."""
    for name, value in (case.path_parameters or {}).items():
        choices = targets.get().get(name, [])
        try:
            slot = uuid.UUID(str(value)).int % (len(choices) + 1)
        except ValueError:
            continue  # an invalid id is a negative case: keep it
        if slot < len(choices):
            case.path_parameters[name] = choices[slot]


_HYPOTHESIS = {
    "deadline": None,
    "database": None,
    # The same examples every run (CI is deterministic); EXPSVC_SCHEMATHESIS_RANDOM=1 explores.
    "derandomize": os.environ.get("EXPSVC_SCHEMATHESIS_RANDOM", "") != "1",
    "suppress_health_check": [
        # The targets are shared by the examples of one operation on purpose.
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
}


@schema.parametrize()
@hypothesis_settings(max_examples=MAX_EXAMPLES, **_HYPOTHESIS)
def test_api_conforms_to_its_schema(
    case: schemathesis.Case, api: LoopbackPeer, targets: Targets
) -> None:
    _aim_at(case, targets)
    case.call_and_validate(checks=ALL_CHECKS)


def test_api_conforms_statefully(api: LoopbackPeer) -> None:
    """Scenarios along the document's links, every check on every step (``use_after_free``
    and ``ensure_resource_availability`` look back at earlier steps)."""
    links = sum(
        len(response.get("links", {}))
        for item in schema.raw_schema["paths"].values()
        for operation in item.values()
        for response in operation.get("responses", {}).values()
    )
    assert links >= 40, links  # the stateful phase has declared links to walk

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response, checks=ALL_CHECKS, transport_kwargs=kwargs, recorder=self.recorder
            )

    Scenarios.run(
        settings=hypothesis_settings(max_examples=SCENARIOS, stateful_step_count=8, **_HYPOTHESIS)
    )


def _stream_event_schema() -> dict[str, Any]:
    """The declared schema of one stream event, with the document's components beside it (so
    its ``#/components/...`` references resolve)."""
    document = build_openapi()
    content = document["paths"]["/v1/events/stream"]["get"]["responses"]["200"]["content"]
    return {"components": document["components"], **content["text/event-stream"]["schema"]}


def _parse_sse(block: str) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        event[field] = int(value) if field == "retry" else value
    return event


async def _stream_blocks(client: httpx.AsyncClient, count: int) -> list[str]:
    blocks: list[str] = []
    async with client.stream("GET", "/v1/events/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        buffer = ""
        async for text in response.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                blocks.append(block)
                if len(blocks) == count:
                    return blocks
    return blocks


async def test_event_stream_conforms_to_its_schema(database_url: str) -> None:
    declared = _stream_event_schema()
    validator = Draft202012Validator(declared)
    data_schema = declared["properties"]["data"]["contentSchema"]
    cloud_event = Draft202012Validator({"components": declared["components"], **data_schema})
    async with live_app(database_url) as client:
        experiment = await create_experiment(client, name="stream")
        run = await create_run(client, experiment["id"])
        await act(client, f"/v1/runs/{run['id']}", "start")
        # retry, then experiment.created, run.created, experiment.started, run.started
        blocks = await asyncio.wait_for(_stream_blocks(client, 5), 30)
        events = [_parse_sse(block) for block in blocks]
        assert events[0] == {"retry": 2000}
        for event in events:
            validator.validate(event)
            if "data" in event:
                cloud_event.validate(orjson.loads(event["data"]))
        assert {event.get("event") for event in events[1:]} == {
            "experiment.created",
            "run.created",
            "experiment.started",
            "run.started",
        }

        # What the document declares invalid is refused, as problem+json, before any stream.
        for params, headers, status in [
            ({}, {"Last-Event-ID": "abc"}, 400),
            ({}, {"Last-Event-ID": "²".encode("latin-1")}, 400),
            ({}, {"Last-Event-ID": "9" * 19}, 400),  # beyond a bigint
            ({"after": str(2**63)}, {}, 422),
            ({"after": "-1"}, {}, 422),
            ({"type": ""}, {}, 400),
            ({"type": "run.exploded"}, {}, 400),
        ]:
            refused = await client.get("/v1/events/stream", params=params, headers=headers)
            assert refused.status_code == status, (params, headers, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
