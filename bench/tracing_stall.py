"""How long the batch span processor's export thread holds the event loop off (in-process).

A loop of synthetic "requests" (about 1 ms of Python each, making the four spans of a traced
create with their real attributes when tracing is on), exported over OTLP/HTTP to
``bench/otlp_sink.py``; prints the requests per second and the loop-turn percentiles. The
export thread encodes a batch in Python under the GIL, so a ready request waits. Guidance for
choosing ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``, not a benchmark: ``bench/run.py`` is.

    python bench/otlp_sink.py --port 4318 &
    python bench/tracing_stall.py off on:512 on:64 off on:512 on:64
"""

from __future__ import annotations

import argparse
import asyncio
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Tracer

_SQL = "WITH inserted AS (INSERT INTO runs (id, experiment_id, name) VALUES ($1, $2, $3)) " * 6
_DATABASE = {
    "db.system": "postgresql",
    "db.name": "expsvc",
    "db.user": "expsvc_runtime",
    "net.peer.name": "127.0.0.1",
    "net.peer.port": 5432,
    "net.transport": "ip_tcp",
    "db.statement": _SQL,
}
_REQUEST = {
    "http.scheme": "http",
    "http.host": "127.0.0.1:8000",
    "http.flavor": "1.1",
    "http.target": "/v1/experiments/0194/runs",
    "http.url": "http://127.0.0.1:8000/v1/experiments/0194/runs",
    "http.method": "POST",
    "http.server_name": "127.0.0.1",
    "http.user_agent": "wrk",
    "net.peer.ip": "127.0.0.1",
    "net.peer.port": 5555,
    "http.status_code": 201,
    "http.route": "/v1/experiments/{experiment_id}/runs",
}


def _request(tracer: Tracer | None) -> None:
    if tracer is None:
        sum(range(6000))
        return
    name = "POST /v1/experiments/{experiment_id}/runs"
    with (
        tracer.start_as_current_span(name, kind=SpanKind.SERVER, attributes=_REQUEST),
        tracer.start_as_current_span("create_run", attributes={"expsvc.experiment_id": "0194"}),
    ):
        for _ in range(2):
            with tracer.start_as_current_span("WITH", kind=SpanKind.CLIENT, attributes=_DATABASE):
                sum(range(3000))


async def measure(variant: str, endpoint: str, seconds: float) -> str:
    provider = None
    tracer = None
    if variant != "off":
        batch = int(variant.partition(":")[2] or 512)
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=batch))
        tracer = provider.get_tracer("tracing_stall")
    turns = []
    requests = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        _request(tracer)
        requests += 1
        ready = time.perf_counter()
        await asyncio.sleep(0.0001)  # a loop turn: the I/O poll releases the GIL
        turns.append(time.perf_counter() - ready)
    if provider is not None:
        provider.shutdown()
    turns.sort()

    def ms(quantile: float) -> float:
        return turns[min(len(turns) - 1, int(len(turns) * quantile))] * 1000

    return (
        f"{variant:>7}: {requests / seconds:5.0f} req/s, loop turn p50 {ms(0.5):.2f} "
        f"p99 {ms(0.99):.2f} p99.9 {ms(0.999):.2f} max {turns[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="+", help="off, or on:BATCH (on is on:512)")
    parser.add_argument("--endpoint", default="http://127.0.0.1:4318")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    for variant in args.variants:
        print(asyncio.run(measure(variant, args.endpoint, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
