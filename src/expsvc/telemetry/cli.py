"""``expsvc telemetry``: replay telemetry against a service, reconcile capture sessions now."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from expsvc.settings import Settings

if TYPE_CHECKING:
    from expsvc.telemetry.replay import ReplayStats

telemetry_app = typer.Typer(
    help="Telemetry Ingest integration: load replay and capture reconciliation.",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


@telemetry_app.command("replay")
def replay_command(
    url: Annotated[str, typer.Option(help="Base URL of the service.")] = "http://127.0.0.1:8000",
    rate: Annotated[float, typer.Option(min=0.1, help="Requests per second (open loop).")] = 50,
    duration: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds to send for (default 10; with --file: whole file)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=500, help="Events per request.")] = 1,
    sessions: Annotated[
        int, typer.Option(min=1, help="Capture sessions to send heartbeats for (generated).")
    ] = 10,
    create_sessions: Annotated[
        bool,
        typer.Option(
            "--create-sessions",
            help="Create those sessions through the API first (running, in one running run); "
            "otherwise their events are orphans.",
        ),
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Replay a JSONL file, one event a line."),
    ] = None,
    as_recorded: Annotated[
        bool,
        typer.Option(
            "--as-recorded", help="Keep the file's event ids and timestamps (default: fresh)."
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Requests in flight.")] = 64,
    principal: Annotated[
        str, typer.Option(help="Identity sent with --create-sessions when a header is set.")
    ] = "telemetry-replay",
    token: Annotated[
        str | None,
        typer.Option(
            envvar="EXPSVC_TOKEN",
            help="API token sent as a bearer token with --create-sessions (jwt/header modes).",
        ),
    ] = None,
) -> None:
    """Send signed telemetry events to POST /v1/integrations/telemetry/events at a fixed rate
    and print the latency percentiles (from each request's due time) and the errors.

    Signs with the first secret of EXPSVC_TELEMETRY_INGEST_SECRET; exits 1 if a request failed.
    """
    import asyncio

    from rich.progress import Progress

    from expsvc.telemetry.replay import ReplayPlan, replay
    from expsvc.telemetry.replay import create_sessions as make_sessions

    settings = Settings()
    if settings.telemetry_ingest_secret is None:
        _fail("set EXPSVC_TELEMETRY_INGEST_SECRET to the service's telemetry secret")
        return
    secret = settings.telemetry_ingest_secret.get_secret_value().split()[0]
    base = url.rstrip("/")
    session_ids = tuple(f"replay-{i}" for i in range(sessions))
    if create_sessions and file is None:
        headers = api_headers(settings, principal, token)
        session_ids = tuple(asyncio.run(make_sessions(base, sessions, headers)))
    plan = ReplayPlan(
        url=base,
        secret=secret,
        rate=rate,
        duration=duration if duration is not None or file is not None else 10.0,
        batch_size=batch_size,
        sessions=session_ids,
        file=file,
        as_recorded=as_recorded,
        concurrency=concurrency,
    )
    with Progress(transient=False) as progress:
        task = progress.add_task("replaying telemetry", total=plan.total_requests)
        stats = asyncio.run(replay(plan, lambda done: progress.advance(task, done)))
    _print_summary(stats)
    if stats.failed:
        raise typer.Exit(code=1)


def api_headers(settings: Settings, principal: str, token: str | None) -> dict[str, str]:
    """Headers that identify the CLI to the service's API: the API token if given, else the
    identity header when one is configured (header mode, from a trusted proxy)."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {settings.identity_header: principal} if settings.identity_header else {}


def _print_summary(stats: ReplayStats) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="telemetry replay", show_header=False)
    rate = stats.requests / stats.elapsed if stats.elapsed else 0.0
    table.add_row("requests", f"{stats.requests} in {stats.elapsed:.2f} s ({rate:.1f}/s)")
    table.add_row("events", str(stats.events))
    for name, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
        value = stats.percentile(fraction)
        table.add_row(f"latency {name}", "-" if value is None else f"{value * 1000:.1f} ms")
    errors = ", ".join(f"{kind}: {count}" for kind, count in stats.errors.most_common())
    table.add_row("errors", f"{stats.failed}" + (f" ({errors})" if errors else ""))
    table.add_row("results", ", ".join(f"{k}: {v}" for k, v in sorted(stats.results.items())))
    Console().print(table)


@telemetry_app.command("reconcile")
def reconcile_command() -> None:
    """Run one capture reconciliation pass now (the worker runs one every
    EXPSVC_CAPTURE_RECONCILE_INTERVAL_SECONDS) and print its report as JSON."""
    import asyncio

    import orjson

    from expsvc.cli import _database_url
    from expsvc.db import Database, create_engine
    from expsvc.telemetry.reconciliation import reconcile
    from expsvc.telemetry.reconciliation_repository import ReconciliationRepository

    settings = Settings()
    url = _database_url(settings)

    async def once() -> str | None:
        database = Database(create_engine(settings, url))
        try:
            if await reconcile(database, settings) is None:
                return None
            async with database.sessionmaker() as session:
                row = await ReconciliationRepository(session).last_report()
            assert row is not None
            return orjson.dumps(row.report, option=orjson.OPT_INDENT_2).decode()
        finally:
            await database.dispose()

    report = asyncio.run(once())
    if report is None:
        typer.echo("another process is reconciling right now; nothing done")
    else:
        typer.echo(report)
