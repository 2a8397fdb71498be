"""``expsvc params``: index a params key in the runs lists' orders (ADR 0037,
docs/filtering.md#indexed-params-keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from expsvc.run.param_indexes import (
    CREATOR,
    SORT_COLUMNS,
    ParamIndex,
    ParamIndexError,
    ParamIndexRepository,
    checked,
)
from expsvc.settings import Settings

params_app = typer.Typer(
    help="Index a params key that lists filter on in every list order (docs/filtering.md).",
    no_args_is_help=True,
)

_Key = Annotated[str, typer.Argument(help="The params key (as in params=KEY=value).")]
_Orders = Annotated[
    list[str] | None,
    typer.Option(
        "--order",
        help=f"A sort column ({', '.join(SORT_COLUMNS)}) or {CREATOR} (a creator's runs of a"
        " value); repeat for several. Default: all.",
    ),
]
_Result = TypeVar("_Result")


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def _on_indexes(work: Callable[[ParamIndexRepository], Awaitable[_Result]]) -> _Result:
    """``work`` on the owner's connection (EXPSVC_MIGRATION_DATABASE_URL, else
    EXPSVC_DATABASE_URL, else the embedded server's), in autocommit."""
    from expsvc.cli import migrations_url
    from expsvc.db import create_engine

    settings = Settings()
    url = migrations_url(settings)

    async def run() -> _Result:
        engine = create_engine(settings, url)
        try:
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                return await work(ParamIndexRepository(autocommit))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _columns(key: str, orders: list[str] | None) -> tuple[str, ...]:
    try:
        return checked(key, orders or ())
    except ParamIndexError as error:
        _fail(str(error))


@params_app.command("index")
def index(key: _Key, order: _Orders = None) -> None:
    """Build KEY's index in each list order and with the creator (CREATE INDEX CONCURRENTLY:
    the service stays up), then ANALYZE the runs. Lists with params=KEY=value walk that value's
    runs in order, and with created_by too read only that creator's runs of the value; the
    services use the indexes within 5 minutes. Each write of a run pays one index entry per
    index. Re-run after a failure: it rebuilds what is invalid or missing."""
    columns = _columns(key, order)
    built = _on_indexes(lambda indexes: indexes.build(key, columns))
    for name in built:
        typer.echo(f"built {name}")
    typer.echo(f"{key}: indexed by {', '.join(columns)}")


@params_app.command("drop-index")
def drop_index(key: _Key, order: _Orders = None) -> None:
    """Drop KEY's indexes (DROP INDEX CONCURRENTLY). Lists stay right; the services stop
    walking them within 5 minutes, and until then such lists are slower."""
    columns = _columns(key, order)
    dropped = _on_indexes(lambda indexes: indexes.drop(key, columns))
    for name in dropped:
        typer.echo(f"dropped {name}")
    if not dropped:
        typer.echo(f"{key}: no index to drop")


@params_app.command("indexes")
def list_indexes() -> None:
    """The params keys' indexes: key, sort column, index, valid or not (a failed build leaves
    an invalid one, which lists do not use), size in bytes."""

    async def listed(indexes: ParamIndexRepository) -> list[ParamIndex]:
        return await indexes.listed()

    for found in _on_indexes(listed):
        state = "valid" if found.valid else "invalid"
        typer.echo(f"{found.key}\t{found.column}\t{found.name}\t{state}\t{found.size_bytes}")
