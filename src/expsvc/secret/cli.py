"""``expsvc secrets``: make a key, re-encrypt stored secrets with the first key."""

from __future__ import annotations

from typing import Annotated

import typer

from expsvc.settings import Settings

secrets_app = typer.Typer(
    help="Keys of the secrets stored encrypted (EXPSVC_SECRET_KEYS; docs/runbook.md).",
    no_args_is_help=True,
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


@secrets_app.command("generate-key")
def generate_key_command() -> None:
    """Print a new Fernet key (for EXPSVC_SECRET_KEYS); nothing is stored."""
    from expsvc.secret.keys import generate_key

    typer.echo(generate_key())


@secrets_app.command("rotate")
def rotate_command(
    batch_size: Annotated[int, typer.Option(min=1, help="Rows rewritten per transaction.")] = 500,
) -> None:
    """Re-encrypt every stored secret with the first key of EXPSVC_SECRET_KEYS: webhook
    signing secrets (encrypting any still in clear) and stored answers that show one.

    Run it after every process has the new key first; then the old key can be dropped.
    Idempotent: values already under the first key are not rewritten. Exits 1 if a value
    could not be decrypted with any configured key (it is left as it was).
    """
    import asyncio

    from expsvc.cli import _database_url
    from expsvc.db import Database, create_engine
    from expsvc.secret.keys import SecretKeysError, load_secret_box
    from expsvc.secret.rotation import (
        RotationCounts,
        rotate_stored_responses,
        rotate_webhook_secrets,
    )

    settings = Settings()
    try:
        box = load_secret_box(settings)
    except SecretKeysError as error:
        _fail(str(error))
        return
    url = _database_url(settings)

    async def rotate() -> tuple[RotationCounts, RotationCounts]:
        database = Database(create_engine(settings, url))
        try:
            webhooks = await rotate_webhook_secrets(database, box, batch_size)
            return webhooks, await rotate_stored_responses(database, box, batch_size)
        finally:
            await database.dispose()

    webhooks, responses = asyncio.run(rotate())
    typer.echo(
        f"webhook secrets: {webhooks.encrypted} encrypted (were in clear), "
        f"{webhooks.reencrypted} re-encrypted, {webhooks.current} already under the first key, "
        f"{webhooks.undecryptable} undecryptable"
    )
    typer.echo(
        f"stored idempotent responses: {responses.reencrypted} re-encrypted, "
        f"{responses.current} already under the first key, {responses.undecryptable} undecryptable"
    )
    undecryptable = webhooks.undecryptable + responses.undecryptable
    if undecryptable:
        typer.secho(
            f"error: {undecryptable} stored values could not be decrypted with any "
            "configured key; put back the key they were encrypted with and run again",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(code=1)
