"""The service's CPU per ``GET /v1/runs/{id}`` with tracing off, at a ratio, and on (in-process).

Each variant runs in a process of its own (tracing is configured once per process): the app
over httpx's ASGI transport against a database at the schema head, spans batched to an
in-memory exporter; 300 untimed gets, then ``--gets`` timed by the process's CPU clock. The
variants are alternated ``--rounds`` times, so a machine drifting in speed moves them alike.
Guidance that takes the network and the server's other processes out of the comparison; the
benchmark is ``bench/run.py`` (docs/performance.md, "Tracing overhead").

    createdb -h 127.0.0.1 -U postgres traceab
    EXPSVC_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/traceab expsvc db upgrade
    python bench/tracing_overhead.py --database-url postgresql://postgres@127.0.0.1:5432/traceab
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

VARIANTS = {"off": None, "ratio": "0.1", "every": "1"}


async def measure(database_url: str, variant: str, gets: int) -> float:
    """CPU microseconds per get in this process, tracing as ``variant`` says."""
    ratio = VARIANTS[variant]
    if ratio is not None:
        os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        os.environ["OTEL_TRACES_SAMPLER_ARG"] = ratio
    import httpx
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from expsvc.app import create_app
    from expsvc.observability import tracing
    from expsvc.settings import Settings

    if ratio is not None:
        tracing.configure_tracing(True, BatchSpanProcessor(InMemorySpanExporter()))
    settings = Settings(
        database_url=database_url,
        tracing_enabled=ratio is not None,
        relay_enabled=False,
        log_level="WARNING",
        partition_maintenance_interval_seconds=0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            experiment = (await client.post("/v1/experiments", json={"name": "e"})).json()
            path = f"/v1/experiments/{experiment['id']}/runs"
            run = (await client.post(path, json={"name": "r"})).json()
            for _ in range(300):
                await client.get(f"/v1/runs/{run['id']}")
            started = time.process_time()
            for _ in range(gets):
                response = await client.get(f"/v1/runs/{run['id']}")
                response.raise_for_status()
            return (time.process_time() - started) / gets * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--gets", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # a child: one variant, one figure
        print(f"{asyncio.run(measure(args.database_url, args.variant, args.gets)):.0f}")
        return 0
    figures: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--database-url", args.database_url]
            command += ["--gets", str(args.gets), "--variant", variant]
            output = subprocess.run(  # noqa: S603 (our own interpreter and script)
                command, check=True, capture_output=True, text=True
            ).stdout
            figures[variant].append(output.split()[-1])
    for variant, values in figures.items():
        print(f"{variant:6} CPU µs per get: {', '.join(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
