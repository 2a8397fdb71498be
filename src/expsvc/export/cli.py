"""``expsvc export runs|experiments``: an export from a running service into a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from expsvc.export.schemas import ExportFormat

export_app = typer.Typer(
    help="Export runs or experiments from a running service into a file (resumable).",
    no_args_is_help=True,
)


FormatOption = Annotated[ExportFormat, typer.Option("--format", help="jsonl, csv or json.")]
OutputOption = Annotated[
    Path, typer.Option("--output", "-o", dir_okay=False, help="The file to write.")
]
FilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--filter",
        help="A filter of the list, NAME=VALUE, repeatable (e.g. status=running, tag=gpu, "
        "experiment_id=…): the same names and meanings as the list's query parameters.",
    ),
]
FieldsOption = Annotated[
    str | None, typer.Option(help="Comma-separated fields to export (default: all).")
]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue the partial export in --output after its last complete record "
        "(jsonl and csv; repeat the same filters and fields).",
    ),
]
ServerOption = Annotated[str, typer.Option(envvar="EXPSVC_SERVER", help="Base URL of the service.")]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="EXPSVC_TOKEN", help="API token, sent as a bearer token (jwt/header)."),
]
PrincipalOption = Annotated[
    str | None,
    typer.Option(help="Identity sent in EXPSVC_IDENTITY_HEADER when there is no token."),
]


@export_app.command("runs")
def export_runs(
    output: OutputOption,
    format: FormatOption = ExportFormat.jsonl,
    filter: FilterOption = None,
    fields: FieldsOption = None,
    resume: ResumeOption = False,
    server: ServerOption = "http://127.0.0.1:8000",
    token: TokenOption = None,
    principal: PrincipalOption = None,
) -> None:
    """Export the runs GET /v1/runs would list with these filters (all by default) into a
    file, in id order, with a progress display."""
    _export("runs", output, format, filter, fields, resume, server, token, principal)


@export_app.command("experiments")
def export_experiments(
    output: OutputOption,
    format: FormatOption = ExportFormat.jsonl,
    filter: FilterOption = None,
    fields: FieldsOption = None,
    resume: ResumeOption = False,
    server: ServerOption = "http://127.0.0.1:8000",
    token: TokenOption = None,
    principal: PrincipalOption = None,
) -> None:
    """Export the experiments GET /v1/experiments would list with these filters (all by
    default) into a file, in id order, with a progress display."""
    _export("experiments", output, format, filter, fields, resume, server, token, principal)


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=code)


def _export(
    entity: str,
    output: Path,
    format: ExportFormat,
    filters: list[str] | None,
    fields: str | None,
    resume: bool,
    server: str,
    token: str | None,
    principal: str | None,
) -> None:
    import httpx
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn
    from rich.progress import TransferSpeedColumn as Speed

    from expsvc.export.download import DownloadError, download, resume_point
    from expsvc.settings import Settings
    from expsvc.telemetry.cli import api_headers

    params = [("format", format.value), *_filter_params(filters or [])]
    if fields is not None:
        params.append(("fields", fields))
        if resume and "id" not in {name.strip() for name in fields.split(",")}:
            _fail("--resume needs the id field in --fields")
    headers = api_headers(Settings(), principal or "", token) if token or principal else {}
    timeout = httpx.Timeout(30.0, read=300.0)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn(), Speed())
    try:
        point = resume_point(output, format) if resume and output.exists() else None
        header = format is ExportFormat.csv and (point is None or point.header is None)
        with (
            httpx.Client(base_url=server, headers=headers, timeout=timeout) as client,
            Progress(*columns, TextColumn("{task.fields[records]}")) as bar,
        ):
            task = bar.add_task(f"exporting {entity}", total=None, records="")
            done = download(
                client,
                f"/v1/{entity}/export",
                params,
                output,
                point,
                lambda now: bar.update(
                    task, completed=now.bytes, records=_records(now.lines, format, header)
                ),
            )
    except DownloadError as error:
        _fail(str(error), code=1)
        return
    except httpx.HTTPError as error:
        _fail(f"the service at {server} cannot be reached: {error}", code=1)
        return
    resumed = f", after {point.after}" if point and point.after else ""
    written = _records(done.lines, format, header) or f"{done.bytes} bytes"
    typer.echo(f"exported {entity}: {written}{resumed}, to {output}")


def _records(lines: int, format: ExportFormat, header: bool) -> str:
    """How many records the lines received are ('' for a JSON array: no lines to count)."""
    if format is ExportFormat.json:
        return ""
    return f"{max(0, lines - 1) if header else lines} records"


def _filter_params(filters: list[str]) -> list[tuple[str, str]]:
    params = []
    for item in filters:
        name, equals, value = item.partition("=")
        if not equals or not name:
            _fail(f"--filter takes NAME=VALUE, got {item!r}")
        params.append((name.strip(), value))
    return params
