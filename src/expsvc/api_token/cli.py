"""``expsvc token``: API tokens, straight in the database (for bootstrapping the first admin
token and for operators with database access)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from expsvc.settings import Settings

if TYPE_CHECKING:
    from expsvc.context import ActionContext

token_app = typer.Typer(
    help="API tokens for service accounts and the CLI (directly in the database).",
    no_args_is_help=True,
)
_Result = TypeVar("_Result")


def _cli_context() -> ActionContext:
    """Who the changes made here are recorded as (``created_by``, ``revoked_by``, audit rows):
    ``system:cli``, a reserved name no API caller can claim; a direct action (source user)."""
    from expsvc.auth.principal import CLI_OPERATOR
    from expsvc.context import ActionContext

    return ActionContext(principal=CLI_OPERATOR, request_id=None)


def _in_transaction(work: Callable[..., Awaitable[_Result]]) -> _Result:
    from expsvc.api_token.service import ApiTokenService
    from expsvc.cli import _database_url
    from expsvc.db import Database, create_engine

    settings = Settings()

    async def run() -> _Result:
        database = Database(create_engine(settings, _database_url(settings)))
        try:
            async with database.sessionmaker() as session, session.begin():
                return await work(ApiTokenService(session))
        finally:
            await database.dispose()

    return asyncio.run(run())


@token_app.command("create")
def create_command(
    name: Annotated[str, typer.Option(help="What the token is for.")],
    principal: Annotated[str, typer.Option(help="Who the token acts as (a service account).")],
    group: Annotated[
        list[str] | None, typer.Option("--group", help="A group of the token (repeatable).")
    ] = None,
    expires_in_days: Annotated[
        int, typer.Option(min=1, max=3650, help="Days until the token expires.")
    ] = 90,
) -> None:
    """Create a token and print it once (only its SHA-256 is stored)."""
    from pydantic import ValidationError

    from expsvc.api_token.schemas import ApiTokenCreate
    from expsvc.errors import ProblemError

    try:
        request = ApiTokenCreate(
            name=name, principal=principal, groups=group or [], expires_in_days=expires_in_days
        )
        created = _in_transaction(lambda service: service.create(request, _cli_context()))
    except (ValidationError, ProblemError) as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(f"id:      {created.id}\nexpires: {created.expires_at.isoformat()}")
    typer.echo("token (shown once, store it now):")
    typer.echo(created.token)


@token_app.command("list")
def list_command(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List tokens, newest first (never the tokens themselves)."""
    from rich.console import Console
    from rich.table import Table

    from expsvc.api_token.schemas import ApiTokenQuery

    query = ApiTokenQuery(include_revoked=include_revoked, page_size=1000)
    page = _in_transaction(lambda service: service.list(query))
    table = Table("id", "name", "hint", "principal", "groups", "expires", "last used", "revoked")
    for token in page.items:
        table.add_row(
            str(token.id),
            token.name,
            token.hint,
            token.principal,
            ",".join(token.groups),
            token.expires_at.isoformat(timespec="seconds"),
            token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "-",
            token.revoked_at.isoformat(timespec="seconds") if token.revoked_at else "-",
        )
    Console(width=200).print(table)


@token_app.command("revoke")
def revoke_command(token_id: Annotated[uuid.UUID, typer.Argument(help="The token's id.")]) -> None:
    """Revoke a token now: the next request with it is refused."""
    from expsvc.errors import ProblemError

    try:
        revoked = _in_transaction(lambda service: service.revoke(token_id, _cli_context()))
    except ProblemError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(f"revoked {revoked.id} ({revoked.name}) at {revoked.revoked_at}")
