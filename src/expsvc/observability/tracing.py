"""OpenTelemetry traces (docs/adr/0023): off unless ``EXPSVC_TRACING_ENABLED``.

On, a process has one tracer provider exporting OTLP over HTTP/protobuf, configured by the
standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``,
``OTEL_TRACES_SAMPLER`` …); the maintained instrumentations of asyncpg, httpx and redis; the
ASGI middleware for requests (an incoming ``traceparent`` parents them); and the service's own
spans through :func:`span`. Off, :func:`span` is a shared ``nullcontext``: no SDK object is made
and a request pays one ``None`` check per span.

On, the cost is per span (made on the request path, then encoded to protobuf and posted by the
batch processor's thread, which competes with the event loop for the GIL), so the spans that
say nothing are not made: the ASGI middleware's per-message ``http send``/``http receive``
spans, and the asyncpg instrumentation's spans of transaction control (``BEGIN``, ``COMMIT``,
``SAVEPOINT`` …), which :class:`_WithoutTransactionControl` drops before a span object exists.
The sampler from ``OTEL_TRACES_SAMPLER``/``OTEL_TRACES_SAMPLER_ARG`` decides for every other
span (docs/performance.md gives the overhead at full sampling and the production setting).

A request's sampling is decided once, at the door (:class:`_SampledAtTheDoor`), before the ASGI
middleware: a request the sampler drops (nine in ten at the production setting) skips the
middleware and runs with instrumentation suppressed, so it makes no span object at all; it
still carries a trace context (the caller's, or a new trace's, flagged unsampled) to its events.
Measured, the unsampled path made the ratio sampler's overhead two thirds of full sampling's: the
middleware and the asyncpg wrapper built attributes and a non-recording span per request and per
statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from expsvc import __version__

_NULL: AbstractContextManager[Any] = contextlib.nullcontext()
_PROPAGATOR = TraceContextTextMapPropagator()
_EXCLUDED_URLS = "/health/live,/health/ready,/metrics"
_EXCLUDED_PATHS = frozenset(_EXCLUDED_URLS.split(","))
_MAX_LINKS = 32  # links per worker span (a relay batch holds up to hundreds of events)
# The first word of a transaction-control statement, as the asyncpg instrumentation names its
# span ("COMMIT;" and "BEGIN ISOLATION LEVEL …" included).
_TRANSACTION_CONTROL = frozenset(
    {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}
)


class _State:
    provider: TracerProvider | None = None
    tracer: Tracer | None = None
    instrumented = False


def enabled() -> bool:
    return _State.tracer is not None


def provider() -> TracerProvider | None:
    return _State.provider


def configure_tracing(enable: bool, processor: SpanProcessor | None = None) -> None:
    """Turn tracing on for this process (once; later calls keep the first provider).

    ``processor`` replaces the OTLP exporter (tests use an in-memory one)."""
    if not enable or _State.provider is not None:
        return
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; "expsvc" when they name no service.
    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "expsvc"}))
    # OTEL_TRACES_SAMPLER etc. apply; the ids are the door's (a trace the door sampled keeps the
    # trace id it was sampled by).
    tracer_provider = TracerProvider(resource=resource, id_generator=_DoorIdGenerator())
    # Before any tracer is made: a tracer keeps the sampler it was made with.
    tracer_provider.sampler = _WithoutTransactionControl(tracer_provider.sampler)
    if processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())  # OTEL_EXPORTER_OTLP_* apply
    tracer_provider.add_span_processor(processor)
    _State.provider = tracer_provider
    _State.tracer = tracer_provider.get_tracer("expsvc", __version__)
    _instrument(tracer_provider)


def _instrument(tracer_provider: TracerProvider) -> None:
    if _State.instrumented:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    asyncpg_instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    asyncpg_instrumentor.instrument(tracer_provider=tracer_provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)
    _State.instrumented = True


class _WithoutTransactionControl(Sampler):
    """The configured sampler, except that a database client span of transaction control is
    dropped. Such a span (two of a write's four statements) only repeats its parent's timing:
    the transaction is the request's, and a failed ``COMMIT`` fails the request's span."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and name.rstrip(";").upper() in _TRANSACTION_CONTROL:
            return SamplingResult(Decision.DROP)
        return self.sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithoutTransactionControl{{{self.sampler.get_description()}}}"


def disable_tracing() -> None:
    """Back to off: flush and drop the provider, remove the instrumentations (tests)."""
    if _State.provider is not None:
        _State.provider.shutdown()
    if _State.instrumented:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        asyncpg_instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        for instrumentor in (asyncpg_instrumentor, HTTPXClientInstrumentor(), RedisInstrumentor()):
            instrumentor.uninstrument()
    _State.provider, _State.tracer, _State.instrumented = None, None, False


# The trace id the door sampled a new trace by, for the SDK to give the request's span.
_DOOR_TRACE_ID: ContextVar[int | None] = ContextVar("expsvc_door_trace_id", default=None)


class _DoorIdGenerator(RandomIdGenerator):
    """Random ids, except that the first new trace id asked for in a request the door sampled is
    the one the door decided by: the ASGI middleware's sampler then sees the same trace id and
    makes the same decision (a ratio sampler decides by the trace id), so a new trace is
    sampled at the configured ratio, not at its square."""

    def generate_trace_id(self) -> int:
        trace_id = _DOOR_TRACE_ID.get()
        if trace_id is None:
            return super().generate_trace_id()
        _DOOR_TRACE_ID.set(None)
        return trace_id


class _SampledAtTheDoor:
    """Decides a request's sampling with the configured sampler before any instrumentation
    runs. Sampled: the request goes through the ASGI middleware (``traced``), which decides the
    same. Dropped: straight to the app (``untraced``) in a context holding a non-recording span
    (the caller's trace or a new one, flagged unsampled, so events still carry a
    ``traceparent``) and the instrumentations' suppression flag, so neither the asyncpg wrapper
    nor :func:`span` makes anything."""

    def __init__(self, traced: ASGIApp, untraced: ASGIApp, provider: TracerProvider) -> None:
        self.traced, self.untraced = traced, untraced
        self.sampler, self.ids = provider.sampler, provider.id_generator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXCLUDED_PATHS:
            await self.untraced(scope, receive, send)
            return
        parent = _incoming_context(scope)
        caller = trace.get_current_span(parent).get_span_context()
        trace_id = caller.trace_id if caller.is_valid else self.ids.generate_trace_id()
        decision = self.sampler.should_sample(parent, trace_id, scope["method"], SpanKind.SERVER)
        if decision.decision is not Decision.DROP:
            if not caller.is_valid:
                _DOOR_TRACE_ID.set(trace_id)
            await self.traced(scope, receive, send)
            return
        unsampled = SpanContext(
            trace_id,
            self.ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.DEFAULT),
            trace_state=caller.trace_state if caller.is_valid else None,
        )
        context = trace.set_span_in_context(NonRecordingSpan(unsampled), parent)
        token = otel_context.attach(
            otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, context)
        )
        try:
            await self.untraced(scope, receive, send)
        finally:
            otel_context.detach(token)


def _incoming_context(scope: Scope) -> Context | None:
    """The caller's trace context from the request's ``traceparent``/``tracestate``."""
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in (b"traceparent", b"tracestate")
    }
    return _PROPAGATOR.extract(carrier) if carrier else None


def asgi_middleware() -> tuple[Any, dict[str, Any]] | None:
    """The ASGI middleware and its options, when tracing is on."""
    tracer_provider = _State.provider
    if tracer_provider is None:
        return None
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    def middleware(app: ASGIApp, **options: Any) -> ASGIApp:
        traced = OpenTelemetryMiddleware(_NamedByRoute(app), **options)
        return _SampledAtTheDoor(traced, app, tracer_provider)

    options = {
        "tracer_provider": _State.provider,
        "excluded_urls": _EXCLUDED_URLS,
        "exclude_spans": ["receive", "send"],  # no span per ASGI message
    }
    return middleware, options


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _NamedByRoute:
    """Inside the ASGI middleware: names the request's span ``{method} {route}`` (the HTTP
    semantic conventions) once routing has matched, and sets ``http.route``. The middleware
    names it by the raw path (``GET /v1/runs/0194…``): a name per resource, which trace
    backends index as operations. A request no route matched is named by its method alone, so
    no name comes from a client's path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_span = trace.get_current_span()
        if scope["type"] != "http" or not request_span.is_recording():
            await self.app(scope, receive, send)
            return

        async def named_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                method = scope["method"] if scope["method"] in _METHODS else "HTTP"
                route = getattr(scope.get("route"), "path_format", None)
                if route is None:
                    request_span.update_name(method)
                else:
                    route = f"{scope.get('root_path', '')}{route}"
                    request_span.update_name(f"{method} {route}")
                    request_span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, named_send)


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A span of ours around a block, child of the current one; a no-op when tracing is off."""
    tracer = _State.tracer
    if tracer is None or otel_context.get_value(_SUPPRESS_INSTRUMENTATION_KEY):
        return _NULL  # off, or a request the door did not sample
    return tracer.start_as_current_span(name, attributes=_attributes(attributes))


@contextlib.contextmanager
def linked_span(
    name: str, traceparents: Iterable[str | None] = (), **attributes: Any
) -> Iterator[Any]:
    """A worker's span: the root of a trace of its own, linked to the traces of the events or
    requests it works for (their ``traceparent``), as the OpenTelemetry messaging conventions
    do for batches."""
    tracer = _State.tracer
    if tracer is None:
        yield None
        return
    links = []
    for traceparent in traceparents:
        context = span_context(traceparent)
        if context is not None:
            links.append(Link(context))
            if len(links) == _MAX_LINKS:
                break
    current = tracer.start_span(
        name,
        context=trace.set_span_in_context(trace.INVALID_SPAN),
        kind=SpanKind.CONSUMER if links else SpanKind.INTERNAL,
        links=links,
        attributes=_attributes(attributes),
    )
    # Its statements and calls are traced when it is, and make nothing when it is not (as a
    # request the door dropped).
    with trace.use_span(current, end_on_exit=True), _instrumented(current.is_recording()):
        yield current


@contextlib.contextmanager
def _instrumented(on: bool) -> Iterator[None]:
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, not on))
    try:
        yield
    finally:
        otel_context.detach(token)


def background() -> AbstractContextManager[None]:
    """Around starting background tasks (they copy the context they are made in): their
    statements and calls are traced only inside their own spans (:func:`linked_span`,
    :func:`record_span`). Outside one, each relay poll and job statement was a trace of its
    own, one statement long, sampled at the ratio: nothing a reader can use, exported at the
    request path's expense."""
    return _instrumented(False)


def record_span(name: str, start_ns: int, **attributes: Any) -> None:
    """A finished root span from ``start_ns`` to now, for work known to matter only once done
    (a relay's sequencing poll that found events)."""
    tracer = _State.tracer
    if tracer is not None:
        context = trace.set_span_in_context(trace.INVALID_SPAN)
        tracer.start_span(
            name, context=context, start_time=start_ns, attributes=_attributes(attributes)
        ).end()


def span_context(traceparent: str | None) -> trace.SpanContext | None:
    if not traceparent:
        return None
    context = _PROPAGATOR.extract({"traceparent": traceparent})
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span (None when there is none)."""
    if _State.tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def _attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        f"expsvc.{key}": value if isinstance(value, bool | int | float | str) else str(value)
        for key, value in attributes.items()
        if value is not None
    }


def shutdown() -> None:
    """Flush what is buffered (at process exit)."""
    if _State.provider is not None:
        _State.provider.force_flush(5000)
