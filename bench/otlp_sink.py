"""A do-nothing OTLP/HTTP receiver for measuring the tracing overhead (docs/performance.md).

Answers every request ``200`` with an empty ``application/x-protobuf`` body (an empty
``ExportTraceServiceResponse``: all spans accepted) over keep-alive connections, reading but not
decoding the body, so the figure is the service's cost of making and exporting spans and not a
collector's. Uses a few hundred microseconds of CPU per export batch (hundreds of spans).

    python bench/otlp_sink.py --port 4318 &
    python bench/run.py ... --service-env EXPSVC_TRACING_ENABLED=true \\
        --service-env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318

On SIGINT or SIGTERM it prints the requests and bytes it received (a check that spans arrived)
and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

_RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n"
_MAX_HEAD = 64 * 1024


class Totals:
    requests = 0
    body_bytes = 0


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                break
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            Totals.requests += 1
            Totals.body_bytes += length
            writer.write(_RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port, limit=_MAX_HEAD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"otlp sink on http://{host}:{port}", flush=True)
    async with server:
        await stop.wait()
    print(f"otlp sink: {Totals.requests} requests, {Totals.body_bytes} bytes", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
