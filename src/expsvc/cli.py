"""``expsvc``: serve the API, manage the schema, seed demo data, export, print the OpenAPI spec."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from ipaddress import ip_address
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from pydantic import ValidationError

from expsvc import __version__
from expsvc.api_token.cli import token_app
from expsvc.backup.cli import backup_app
from expsvc.export.cli import export_app
from expsvc.run.cli import params_app
from expsvc.secret.cli import secrets_app
from expsvc.settings import AuthMode, Settings
from expsvc.telemetry.cli import telemetry_app

app = typer.Typer(
    name="expsvc",
    help=(
        "Experiment Service: Experiments, Runs and CaptureSessions with strict lifecycles.\n\n"
        "Configuration comes from EXPSVC_* environment variables (see the README). With no "
        "EXPSVC_DATABASE_URL, an embedded PostgreSQL is started in EXPSVC_DATA_DIR."
    ),
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(
    help="Inspect and migrate the database schema (Alembic).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
idempotency_app = typer.Typer(
    help="Maintain stored Idempotency-Key responses.", no_args_is_help=True
)
app.add_typer(idempotency_app, name="idempotency")
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(secrets_app, name="secrets")
grants_app = typer.Typer(help="Maintain experiment grants.", no_args_is_help=True)
app.add_typer(grants_app, name="grants")
app.add_typer(token_app, name="token")
app.add_typer(export_app, name="export")
app.add_typer(backup_app, name="backup")
app.add_typer(params_app, name="params")


def run() -> None:
    """Console entry point: an unreachable database is one clear line, not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        app(prog_name="expsvc")
    except ValidationError as error:
        typer.secho(f"error: invalid EXPSVC_* settings: {error}", err=True, fg="red")
        raise SystemExit(2) from None
    except (OSError, SQLAlchemyError) as error:
        typer.secho(f"error: the database cannot be used: {error}", err=True, fg="red")
        raise SystemExit(2) from None


def is_loopback_host(host: str) -> bool:
    """A bind address only this machine can reach (a name other than localhost is not
    resolved: it could point anywhere)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def _database_url(settings: Settings) -> str:
    """The service's URL (its runtime role), or the embedded server's (started if needed)."""
    if settings.database_url is not None:
        return settings.database_url
    from expsvc.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.data_dir, settings.database_runtime_role).url


def migrations_url(settings: Settings) -> str:
    """The URL migrations run on: the owner's (docs/adr/0019), or the embedded server's."""
    if settings.migrations_url is not None:
        return settings.migrations_url
    from expsvc.embedded import start_embedded_postgres

    return start_embedded_postgres(settings.data_dir, settings.database_runtime_role).owner_url


def _secret_keys(settings: Settings) -> str:
    """The keys of secrets at rest, or exit 2 naming the setting (docs/adr/0011). On the
    embedded default, the data dir's key file is made here."""
    from expsvc.secret.keys import SecretKeysError, parse_keys, secret_keys

    try:
        keys = secret_keys(settings)
        parse_keys(keys)
    except SecretKeysError as error:
        _fail(str(error))
        raise  # not reached: _fail exits
    return keys


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


# serve pins these, not uvicorn's "auto", which falls back to asyncio and h11 without a word: with
# the asyncio loop, uvicorn's multi-worker listener leaves Nagle's algorithm on for accepted
# sockets, 40 ms on every keep-alive request after the first (docs/performance.md).
SERVER_MODULES = ("uvloop", "httptools")


def _require_server_modules() -> None:
    missing = []
    for module in SERVER_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        _fail(
            f"expsvc serve needs {' and '.join(missing)}, which cannot be imported; install "
            "uvicorn[standard] (without uvloop, keep-alive requests can wait 40 ms each)"
        )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the SIGTERM it handled once it has shut down. Python's default action
    # would then kill the process before atexit runs, leaving the embedded PostgreSQL running.
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [EXPSVC_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port; 0 picks a free one [EXPSVC_PORT].")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [EXPSVC_WORKERS].")] = None,
    migrate: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="Apply pending migrations before serving (always done on the embedded default).",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API.

    With no EXPSVC_DATABASE_URL, starts the embedded PostgreSQL in EXPSVC_DATA_DIR, applies the
    migrations and serves; data survives restarts. With an external database, migrations are
    applied only with --migrate (or `expsvc db upgrade`); /health/ready reports a schema that
    is behind.
    """
    _require_server_modules()
    import uvicorn

    from expsvc.audit.protection import warn_if_audit_rewritable
    from expsvc.embedded import DataDirBusy, lock_data_dir, start_embedded_postgres
    from expsvc.migrate import upgrade
    from expsvc.observability.logging import configure_logging

    settings = Settings()
    bind = host or settings.host
    if settings.auth_mode is AuthMode.none and not is_loopback_host(bind):
        _fail(
            f"refusing to serve on {bind} with EXPSVC_AUTH_MODE=none (identity off, every caller "
            "an admin): bind to 127.0.0.1 (EXPSVC_HOST / --host), or set EXPSVC_AUTH_MODE=jwt "
            "or header (see docs/security.md)"
        )
    keys = _secret_keys(settings)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    configure_logging(settings)
    url, migrations_url = settings.database_url, settings.migrations_url
    if url is None or migrations_url is None:
        try:
            lock = lock_data_dir(settings.data_dir)
        except DataDirBusy as busy:
            _fail(str(busy))
        embedded = start_embedded_postgres(settings.data_dir, settings.database_runtime_role)
        url, migrations_url = embedded.url, embedded.owner_url
        migrate = True
    if migrate:
        upgrade(migrations_url, runtime_role=settings.database_runtime_role)
    warn_if_audit_rewritable(settings, url)
    # Worker processes read their settings from the environment; hand them the resolved URL
    # and keys (with the URL set, they would not look for the data dir's key file). The
    # owner's URL is not theirs to have.
    os.environ["EXPSVC_DATABASE_URL"] = url
    os.environ.pop("EXPSVC_MIGRATION_DATABASE_URL", None)
    os.environ["EXPSVC_SECRET_KEYS"] = keys
    uvicorn.run(
        "expsvc.app:create_app_from_environment",
        factory=True,
        host=bind,
        port=settings.port if port is None else port,
        workers=workers or settings.workers,
        loop="uvloop",  # both checked by _require_server_modules
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    if settings.database_url is None:
        lock.close()


@app.command()
def worker(
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (default: off).")
    ] = None,
) -> None:
    """Run the background work (outbox relay to every configured sink, webhook delivery,
    idempotency-key purge) until SIGTERM. Several workers may run at once; they coordinate
    through PostgreSQL. Needs the keys of EXPSVC_SECRET_KEYS (webhook secrets are encrypted)."""
    import asyncio

    from expsvc.audit.protection import warn_if_audit_rewritable
    from expsvc.observability.logging import configure_logging
    from expsvc.worker.main import run_worker

    settings = Settings()
    _secret_keys(settings)  # checked before anything starts: a clear line, not a traceback
    configure_logging(settings)
    url = _database_url(settings)
    warn_if_audit_rewritable(settings, url)
    asyncio.run(run_worker(settings, url, metrics_port))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: head), as the owner role
    (EXPSVC_MIGRATION_DATABASE_URL, else EXPSVC_DATABASE_URL). Safe while the service is live."""
    from expsvc.audit.protection import audit_rewrite_warning
    from expsvc.migrate import upgrade

    settings = Settings()
    upgrade(migrations_url(settings), revision, settings.database_runtime_role)
    typer.echo(f"database upgraded to {revision}")
    warning = audit_rewrite_warning(settings, _database_url(settings))
    if warning is not None:
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, base, or -N after -- (`-- -1`).")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Also past 0015 and 0004, dropping the audit log's protection or rows."
        ),
    ] = False,
) -> None:
    """Revert migrations down to REVISION, as the owner role. Destructive: data in dropped
    tables is lost. Past the audit log's migrations it refuses without --force."""
    from alembic.util import CommandError

    from expsvc.migrate import database_revision, downgrade, downgrade_losses

    settings = Settings()
    url = migrations_url(settings)
    losses = downgrade_losses(database_revision(url), revision)
    if losses and not force:
        _fail(
            f"refusing to downgrade to {revision}: it would lose "
            + "; ".join(losses)
            + ". Export audit_log first if it must be kept; add --force to downgrade anyway"
        )
    try:
        downgrade(url, revision, settings.database_runtime_role)
    except CommandError as refused:  # e.g. a migration that refuses to lose data (0011)
        _fail(str(refused))
    typer.echo(f"database downgraded to {revision}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision, the head this release expects, and whether this
    release runs on it (the schema check of /health/ready)."""
    import asyncio

    from expsvc.db import create_engine
    from expsvc.release.schema import SchemaExpectation, SchemaReport, SchemaState

    settings = Settings()
    url = _database_url(settings)
    expected = SchemaExpectation.of_this_code()

    async def read() -> SchemaReport:
        engine = create_engine(settings, url)
        try:
            async with engine.connect() as connection:
                return await expected.read(connection)
        finally:
            await engine.dispose()

    report = asyncio.run(read())
    position = {
        SchemaState.ok: "at head",
        SchemaState.ahead_compatible: "ahead of head",
        SchemaState.ahead_incompatible: "ahead of head",
    }.get(report.state, "behind head")
    typer.echo(
        f"current: {report.revision or '(empty)'}\nhead:    {expected.head}\n{position}\n"
        f"schema:  {report.state.value} ({expected.explain(report)})"
    )


@db_app.command("partitions")
def db_partitions() -> None:
    """Create the monthly partitions ahead and drop whole ones past retention now (the worker's
    partition-maintenance job does it every EXPSVC_PARTITION_MAINTENANCE_INTERVAL_SECONDS)."""
    import asyncio

    from expsvc.db import Database, create_engine
    from expsvc.partition.jobs import build_maintainer
    from expsvc.partition.service import TableReport

    settings = Settings()
    url = _database_url(settings)

    async def maintain() -> list[TableReport]:
        database = Database(create_engine(settings, url))
        try:
            return await build_maintainer(settings, database).run_once()
        finally:
            await database.dispose()

    for report in asyncio.run(maintain()):
        typer.echo(report.summary())


@idempotency_app.command("purge")
def idempotency_purge(
    batch_size: Annotated[int, typer.Option(min=1, help="Keys deleted per transaction.")] = 1000,
) -> None:
    """Delete expired idempotency keys now (the service also does it every few minutes)."""
    import asyncio

    from expsvc.db import Database, create_engine
    from expsvc.idempotency.purge import purge_expired_keys

    settings = Settings()
    url = _database_url(settings)

    async def purge() -> int | None:
        database = Database(create_engine(settings, url))
        try:
            return await purge_expired_keys(database, batch_size)
        finally:
            await database.dispose()

    purged = asyncio.run(purge())
    if purged is None:
        typer.echo("another process is purging idempotency keys right now; nothing done")
    else:
        typer.echo(f"purged {purged} expired idempotency keys")


@grants_app.command("backfill")
def grants_backfill() -> None:
    """Make each experiment without any grant owned by its creator (idempotent). Run once
    after upgrading from a release without grants: experiments the old release created
    during the rollout have none, and only admins see them until then."""
    import asyncio

    from expsvc.db import Database, create_engine
    from expsvc.grant.repository import GrantRepository

    settings = Settings()
    url = _database_url(settings)

    async def backfill() -> int:
        database = Database(create_engine(settings, url))
        try:
            async with database.sessionmaker() as session, session.begin():
                return await GrantRepository(session).backfill_owners()
        finally:
            await database.dispose()

    typer.echo(f"{asyncio.run(backfill())} experiments got their creator as owner")


@app.command()
def seed(
    experiments: Annotated[int, typer.Option(min=0, help="Experiments to create.")] = 20,
    runs: Annotated[int, typer.Option(min=0, help="Runs spread over those experiments.")] = 500,
    capture_ratio: Annotated[
        float, typer.Option(min=0, max=1, help="Share of started runs with a capture session.")
    ] = 0.3,
) -> None:
    """Add a realistic demo data set: experiments, runs in every status, their status history
    and capture sessions. Set-based: 1,000,000 runs take about two minutes."""
    import asyncio

    from rich.progress import Progress

    from expsvc.seed import SeedPlan, seed_demo_data

    settings = Settings()
    url = _database_url(settings)
    plan = SeedPlan(experiments=experiments, runs=runs, capture_ratio=capture_ratio)
    if runs and not experiments:
        _fail("runs need at least one experiment")
    with Progress(transient=False) as progress:
        task = progress.add_task("seeding runs", total=max(runs, 1))
        result = asyncio.run(
            seed_demo_data(settings, url, plan, lambda done: progress.update(task, completed=done))
        )
    typer.echo(f"created {result.experiments} experiments and {result.runs} runs")


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI document of this release (no database needed)."""
    from expsvc.openapi import build_openapi, render_openapi

    text = render_openapi(build_openapi())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}")
