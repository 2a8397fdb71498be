"""Traces (docs/adr/0023): the span tree of create → start → finish, the event's traceparent,
and export to a real OTLP/HTTP receiver configured by the standard OTEL_* variables."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import SpanKind

from expsvc.app import create_app
from expsvc.observability import tracing
from tests.conftest import make_settings
from tests.helpers import act, create_experiment
from tests.webhook.conftest import WEBHOOK_SETTINGS
from tests.webhook.receiver import Received, Receiver
from tests.webhook.support import create_webhook

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}


@contextlib.contextmanager
def traced() -> Iterator[InMemorySpanExporter]:
    """Tracing on (the sampler the environment configures), spans kept in memory."""
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(True, SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.disable_tracing()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with traced() as exporter:
        yield exporter


@contextlib.contextmanager
def traced_at_ratio(monkeypatch: pytest.MonkeyPatch, ratio: str) -> Iterator[InMemorySpanExporter]:
    """Tracing on with the production sampler at ``ratio`` (``OTEL_TRACES_SAMPLER``/``_ARG``)."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", ratio)
    with traced() as exporter:
        yield exporter


async def serve(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(make_settings(database_url, tracing_enabled=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def event_traceparents(database_url: str) -> dict[str, str | None]:
    """The outbox's events (what the feed, Redis, Kafka and webhooks carry): type → traceparent."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT type, traceparent FROM outbox_events ORDER BY id")
    finally:
        await connection.close()
    return {row["type"]: row["traceparent"] for row in rows}


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def parent_id(span: ReadableSpan) -> str | None:
    return None if span.parent is None else f"{span.parent.span_id:016x}"


def server_span(finished: list[ReadableSpan], method: str, route: str) -> ReadableSpan:
    (found,) = [
        s
        for s in finished
        if s.kind is SpanKind.SERVER
        and s.attributes is not None
        and s.attributes.get("http.method", s.attributes.get("http.request.method")) == method
        and str(s.attributes.get("http.target", s.attributes.get("url.path", ""))).endswith(route)
    ]
    return found


def named(finished: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


async def test_create_start_finish_span_tree(
    spans: InMemorySpanExporter, database_url: str
) -> None:
    async for client in serve(database_url):
        experiment = await create_experiment(client)
        spans.clear()
        path = f"/v1/experiments/{experiment['id']}/runs"
        created = await client.post(path, json={"name": "traced"}, headers=CALLER)
        assert created.status_code == 201, created.text
        run = created.json()
        await act(client, f"/v1/runs/{run['id']}", "start")
        finish = await client.post(f"/v1/runs/{run['id']}/finish", headers=CALLER)
        assert finish.status_code == 200, finish.text
    finished = list(spans.get_finished_spans())
    by_type = await event_traceparents(database_url)

    # create: the caller's traceparent parents the request's span, which parents create_run,
    # which parents the database's spans.
    request = server_span(finished, "POST", path)
    # Named by the route template (HTTP semantic conventions), not by the path.
    assert request.name == "POST /v1/experiments/{experiment_id}/runs"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/v1/experiments/{experiment_id}/runs"
    assert hex_ids(request)[0] == CALLER_TRACE
    assert parent_id(request) == CALLER_SPAN
    (create_run,) = named(finished, "create_run")
    assert parent_id(create_run) == hex_ids(request)[1]
    assert create_run.attributes is not None
    assert create_run.attributes["expsvc.experiment_id"] == experiment["id"]
    database = [s for s in finished if parent_id(s) == hex_ids(create_run)[1]]
    assert database, "no database span under create_run"
    assert all(s.kind is SpanKind.CLIENT for s in database)

    # start: a transition span (no caller: a trace of its own); finish: close_run.
    (start,) = named(finished, "transition")
    assert start.attributes is not None
    assert (start.attributes["expsvc.entity"], start.attributes["expsvc.action"]) == (
        "run",
        "start",
    )
    start_request = server_span(finished, "POST", f"/v1/runs/{run['id']}/start")
    assert parent_id(start) == hex_ids(start_request)[1]
    assert hex_ids(start_request)[0] != CALLER_TRACE
    (close_run,) = named(finished, "close_run")
    finish_request = server_span(finished, "POST", f"/v1/runs/{run['id']}/finish")
    assert parent_id(close_run) == hex_ids(finish_request)[1]
    assert hex_ids(close_run)[0] == CALLER_TRACE
    assert close_run.attributes is not None
    assert close_run.attributes["expsvc.action"] == "finish"
    assert close_run.attributes["expsvc.source"] == "user"

    # Each event carries the traceparent of the request that caused it (CloudEvents
    # distributed tracing extension): a consumer's span joins the producer's trace.
    trace_id, span_id = hex_ids(request)
    assert str(by_type["run.created"]).startswith(f"00-{trace_id}-{span_id}-")
    trace_id, span_id = hex_ids(finish_request)
    assert str(by_type["run.finished"]).startswith(f"00-{trace_id}-{span_id}-")
    trace_id, span_id = hex_ids(start_request)
    assert str(by_type["run.started"]).startswith(f"00-{trace_id}-{span_id}-")

    # Only spans that say something (docs/adr/0023, "Cost"): no span per ASGI message, none
    # for the transactions' BEGIN and COMMIT (the request's span times the transaction).
    assert not [s.name for s in finished if s.name.endswith((" http send", " http receive"))]
    control = [s.name for s in finished if s.name.rstrip(";").split()[0] in {"BEGIN", "COMMIT"}]
    assert not control
    assert len([s for s in finished if parent_id(s) == hex_ids(request)[1]]) == 1  # create_run


async def test_a_request_no_route_matches_is_named_by_its_method(
    spans: InMemorySpanExporter, database_url: str
) -> None:
    async for client in serve(database_url):
        assert (await client.get("/v1/nothing/here/0194")).status_code == 404
        assert (await client.get("/v1/runs/not-a-uuid")).status_code in {404, 422}
    names = sorted(s.name for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert names == ["GET", "GET /v1/runs/{run_id}"]


def test_the_sampler_drops_transaction_control_and_asks_the_configured_one_otherwise() -> None:
    on = tracing._WithoutTransactionControl(ALWAYS_ON)
    off = tracing._WithoutTransactionControl(ALWAYS_OFF)
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    for statement in ("BEGIN", "BEGIN ISOLATION LEVEL", "COMMIT;", "ROLLBACK", "SAVEPOINT"):
        name = statement.split()[0]
        decision = on.should_sample(None, trace_id, name, SpanKind.CLIENT).decision
        assert not decision.is_recording(), statement
    assert on.should_sample(None, trace_id, "SELECT", SpanKind.CLIENT).decision.is_sampled()
    assert on.should_sample(None, trace_id, "COMMIT", SpanKind.INTERNAL).decision.is_sampled()
    assert not off.should_sample(None, trace_id, "SELECT", SpanKind.CLIENT).decision.is_recording()


async def test_otel_traces_sampler_is_honoured(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production setting (docs/performance.md): a ratio for new traces, the caller's
    decision for continued ones. At ratio 0 only a caller's sampled trace is recorded."""
    with traced_at_ratio(monkeypatch, "0") as exporter:
        provider = tracing.provider()
        assert provider is not None
        assert "ParentBased{root:TraceIdRatioBased{0.0}" in provider.sampler.get_description()
        async for client in serve(database_url):
            experiment = await create_experiment(client)
            path = f"/v1/experiments/{experiment['id']}/runs"
            unsampled = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"}
            for headers in ({}, unsampled):
                response = await client.post(path, json={"name": "r"}, headers=headers)
                assert response.status_code == 201
            assert not exporter.get_finished_spans()
            response = await client.post(path, json={"name": "s"}, headers=CALLER)
            assert response.status_code == 201
        finished = list(exporter.get_finished_spans())
    assert {hex_ids(s)[0] for s in finished} == {CALLER_TRACE}
    assert named(finished, "create_run")
    # An unsampled request still passes its trace on to its events (flags 00).
    by_type = await event_traceparents(database_url)
    assert by_type["experiment.created"] is not None


class _AskedSampler(Sampler):
    """The configured sampler, remembering what it was asked: (span kind, trace id)."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler, self.asked = sampler, []  # type: list[tuple[SpanKind | None, int]]

    def should_sample(  # type: ignore[override]
        self, parent_context: Any, trace_id: int, name: str, kind: Any = None, *args: Any
    ) -> SamplingResult:
        self.asked.append((kind, trace_id))
        return self.sampler.should_sample(parent_context, trace_id, name, kind, *args)

    def get_description(self) -> str:
        return "Asked"


def asked_sampler() -> _AskedSampler:
    """Wraps the configured sampler inside the provider's (tracers share the provider's)."""
    provider = tracing.provider()
    assert provider is not None
    without_control = provider.sampler
    assert isinstance(without_control, tracing._WithoutTransactionControl)
    asked = _AskedSampler(without_control.sampler)
    without_control.sampler = asked
    return asked


async def test_a_request_the_sampler_drops_is_decided_once_and_makes_no_span(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropped at the door: the sampler is asked once per request (not again for the request's
    span, create_run and each statement) and the request still hands its trace on, unsampled."""
    with traced_at_ratio(monkeypatch, "0") as exporter:
        async for client in serve(database_url):
            experiment = await create_experiment(client)
            asked = asked_sampler()
            unsampled = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"}
            path = f"/v1/experiments/{experiment['id']}/runs"
            created = await client.post(path, json={"name": "r"}, headers=unsampled)
            assert created.status_code == 201
            assert (await client.get(f"/v1/runs/{created.json()['id']}")).status_code == 200
        finished = list(exporter.get_finished_spans())
    assert not finished
    assert [kind for kind, _ in asked.asked] == [SpanKind.SERVER, SpanKind.SERVER]
    assert asked.asked[0][1] == int(CALLER_TRACE, 16)
    traceparent = str((await event_traceparents(database_url))["run.created"])
    assert traceparent.startswith(f"00-{CALLER_TRACE}-")
    assert traceparent.endswith("-00")
    assert f"-{CALLER_SPAN}-" not in traceparent  # the request's own (unrecorded) span


async def test_a_new_trace_is_sampled_by_the_trace_id_the_door_decided_by(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a ratio, the door and the request's span ask about the same trace id: a new trace is
    sampled at the ratio, not at its square, and every request the door passed is recorded."""
    with traced_at_ratio(monkeypatch, "0.5") as exporter:
        async for client in serve(database_url):
            experiment = await create_experiment(client)
            asked = asked_sampler()
            exporter.clear()
            for _ in range(24):
                assert (await client.get(f"/v1/experiments/{experiment['id']}")).status_code == 200
        finished = list(exporter.get_finished_spans())
    servers = [trace_id for kind, trace_id in asked.asked if kind is SpanKind.SERVER]
    recorded = [int(hex_ids(s)[0], 16) for s in finished if s.kind is SpanKind.SERVER]
    # The door asks once per request; for a request it passed the middleware asks again, about
    # the same trace id, right after it.
    door = [t for i, t in enumerate(servers) if i == 0 or servers[i - 1] != t]
    assert len(door) == 24
    assert sorted(recorded) == sorted(t for i, t in enumerate(servers) if i and servers[i - 1] == t)
    assert 0 < len(recorded) < 24  # the ratio both ways (fails by chance with p = 2 * 0.5**24)


def test_the_door_s_trace_id_is_given_once() -> None:
    ids = tracing._DoorIdGenerator()
    token = tracing._DOOR_TRACE_ID.set(0x1234)
    try:
        assert ids.generate_trace_id() == 0x1234
        assert ids.generate_trace_id() != 0x1234
    finally:
        tracing._DOOR_TRACE_ID.reset(token)


async def test_tracing_off_makes_no_spans_and_keeps_the_caller_s_traceparent(
    client: httpx.AsyncClient, database_url: str
) -> None:
    assert not tracing.enabled()
    experiment = await create_experiment(client)
    path = f"/v1/experiments/{experiment['id']}/runs"
    assert (await client.post(path, json={"name": "r"}, headers=CALLER)).status_code == 201
    assert (await event_traceparents(database_url))["run.created"] == CALLER["traceparent"]


class _Receiver(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.requests.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_reach_an_otlp_http_receiver(
    otlp_receiver: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "expsvc-test")
    tracing.configure_tracing(True)  # the OTLP exporter, as a deployment has it
    try:
        async for client in serve(database_url):
            experiment = await create_experiment(client)
            path = f"/v1/experiments/{experiment['id']}/runs"
            response = await client.post(path, json={"name": "exported"}, headers=CALLER)
            assert response.status_code == 201
        tracing.shutdown()  # flushes the batch
    finally:
        tracing.disable_tracing()

    assert _Receiver.requests
    names: dict[str, bytes] = {}
    services = set()
    for url_path, content_type, body in _Receiver.requests:
        assert url_path == "/v1/traces"
        assert content_type == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    names[span.name] = span.trace_id
    assert services == {"expsvc-test"}
    assert names["create_run"].hex() == CALLER_TRACE


async def _deliver_one(database_url: str, tracing_on: bool) -> tuple[Received, str]:
    """Create a webhook and an experiment (under the caller's traceparent); the request the
    receiver got, and the experiment id."""
    receiver = Receiver().start()
    try:
        settings = make_settings(database_url, tracing_enabled=tracing_on, **WEBHOOK_SETTINGS)
        app: FastAPI = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                await create_webhook(c, f"{receiver.url}/hook", event_types=["experiment.created"])
                response = await c.post("/v1/experiments", json={"name": "e"}, headers=CALLER)
                assert response.status_code == 201
                (request,) = await receiver.wait_for(1)
        return request, response.json()["id"]
    finally:
        receiver.stop()


async def test_webhooks_carry_the_event_s_traceparent_when_tracing_is_off(
    database_url: str,
) -> None:
    request, _ = await _deliver_one(database_url, tracing_on=False)
    assert request.headers["traceparent"] == CALLER["traceparent"]


async def test_publish_and_delivery_spans_link_to_the_producer_s_trace(
    spans: InMemorySpanExporter, database_url: str
) -> None:
    request, _ = await _deliver_one(database_url, tracing_on=True)
    finished = list(spans.get_finished_spans())

    def linked_to_caller(span: ReadableSpan) -> bool:
        return any(f"{link.context.trace_id:032x}" == CALLER_TRACE for link in span.links)

    publishes = [s for s in named(finished, "outbox publish") if linked_to_caller(s)]
    assert publishes, "no outbox publish span links to the request's trace"
    assert all(s.parent is None for s in publishes)  # a trace of its own, linked
    (attempt,) = named(finished, "webhook delivery attempt")
    assert linked_to_caller(attempt)
    assert attempt.parent is None
    # The receiver continues the attempt's trace (httpx's client span under the attempt).
    header = request.headers["traceparent"]
    assert header.split("-")[1] == hex_ids(attempt)[0]
    (client_span,) = [s for s in finished if s.kind is SpanKind.CLIENT and s.name == "POST"]
    assert parent_id(client_span) == hex_ids(attempt)[1]
    assert header.split("-")[2] == hex_ids(client_span)[1]


def _database_spans(finished: list[ReadableSpan]) -> list[ReadableSpan]:
    return [
        s
        for s in finished
        if s.kind is SpanKind.CLIENT
        and s.attributes is not None
        and "postgresql" in (s.attributes.get("db.system"), s.attributes.get("db.system.name"))
    ]


async def test_background_statements_are_traced_inside_their_own_spans_only(
    spans: InMemorySpanExporter, database_url: str
) -> None:
    """The relay's polls and the jobs' statements start no trace of their own (each was a
    one-statement trace); a publish's statements are children of its span."""
    spans.clear()  # the fixtures' own statements (the test database's copy)
    await _deliver_one(database_url, tracing_on=True)
    finished = list(spans.get_finished_spans())
    database = _database_spans(finished)
    assert database
    assert [s.name for s in database if s.parent is None] == []
    publishes = {hex_ids(s)[1] for s in named(finished, "outbox publish")}
    assert any(parent_id(s) in publishes for s in database)


async def test_a_background_span_not_sampled_makes_no_child(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """A job, publish or delivery span the sampler drops makes no span below it, as a request
    the door drops."""
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with traced() as exporter:
        await _deliver_one(database_url, tracing_on=True)
        with tracing.linked_span("job probe") as probe:
            assert not probe.is_recording()
            with tracing.span("close_run") as inner:
                assert inner is None  # the shared no-op, not a non-recording span
    assert list(exporter.get_finished_spans()) == []
