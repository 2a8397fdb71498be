"""``expsvc export`` against a served app: formats, filters, fields, resuming a cut file,
refusals, and the caller's token."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from expsvc.cli import app
from tests.conftest import header_identity
from tests.export.conftest import Served, ServeFactory, seed_runs

runner = CliRunner()


def export(served: Served, *args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["export", *args, "--server", served.url], env=env)


def api(served: Served, path: str, **params: Any) -> httpx.Response:
    response = httpx.get(f"{served.url}{path}", params=params, timeout=60)
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def seeded(serve: ServeFactory, database_url: str) -> Served:
    seed_runs(database_url, 3000)
    return serve()


def test_exports_runs_as_jsonl_with_progress(seeded: Served, tmp_path: Path) -> None:
    output = tmp_path / "runs.jsonl"
    result = export(seeded, "runs", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert f"exported runs: 3000 records, to {output}" in result.output
    assert "exporting runs" in result.output  # the progress display
    assert output.read_bytes() == api(seeded, "/v1/runs/export").content


def test_filters_fields_and_formats(seeded: Served, tmp_path: Path) -> None:
    output = tmp_path / "running.csv"
    args = ["--format", "csv", "--filter", "status=running", "--filter", "tag=gpu"]
    result = export(seeded, "runs", *args, "--fields", "id,name,tags", "--output", str(output))
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(output.read_text(), newline="")))
    assert rows[0] == ["id", "name", "tags"]
    listed = api(seeded, "/v1/runs", status="running", tag="gpu", page_size=1000).json()["items"]
    assert [row[0] for row in rows[1:]] == sorted(run["id"] for run in listed)
    assert all("gpu" in json.loads(row[2]) for row in rows[1:])

    experiments = tmp_path / "experiments.json"
    result = export(seeded, "experiments", "--format", "json", "--output", str(experiments))
    assert result.exit_code == 0, result.output
    assert len(json.loads(experiments.read_text())) == 4


@pytest.mark.parametrize("format", ["jsonl", "csv"])
@pytest.mark.parametrize("cut", [0.0, 0.37, 0.5, 0.999])
def test_resume_continues_a_cut_file_after_its_last_complete_record(
    seeded: Served, tmp_path: Path, format: str, cut: float
) -> None:
    whole = api(seeded, "/v1/runs/export", format=format).content
    output = tmp_path / f"runs.{format}"
    output.write_bytes(whole[: int(len(whole) * cut)])  # cut anywhere, mid-record too
    result = export(seeded, "runs", "--format", format, "--resume", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_bytes() == whole
    if cut > 0.3:
        assert ", after " in result.output


def test_resume_of_a_complete_file_adds_nothing(seeded: Served, tmp_path: Path) -> None:
    output = tmp_path / "runs.jsonl"
    assert export(seeded, "runs", "--output", str(output)).exit_code == 0
    whole = output.read_bytes()
    result = export(seeded, "runs", "--resume", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "exported runs: 0 records" in result.output
    assert output.read_bytes() == whole


def test_resume_refuses_what_it_cannot_continue(seeded: Served, tmp_path: Path) -> None:
    output = tmp_path / "runs.csv"
    assert export(seeded, "runs", "--format", "csv", "--output", str(output)).exit_code == 0
    other = export(
        seeded, "runs", "--format", "csv", "--fields", "id,name", "--resume", "-o", str(output)
    )
    assert other.exit_code == 1
    assert "header" in other.output
    no_id = export(seeded, "runs", "--fields", "name", "--resume", "--output", str(output))
    assert no_id.exit_code == 2
    assert "id field" in no_id.output
    array = export(seeded, "runs", "--format", "json", "--resume", "--output", str(output))
    assert array.exit_code == 1
    assert "jsonl and csv" in array.output


def test_a_refused_export_prints_the_problem(seeded: Served, tmp_path: Path) -> None:
    result = export(seeded, "runs", "--filter", "colour=red", "--output", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "422 Request validation failed" in result.output
    assert "colour" in result.output
    bad = export(seeded, "runs", "--filter", "status", "--output", str(tmp_path / "x"))
    assert bad.exit_code == 2
    assert "NAME=VALUE" in bad.output


def test_the_token_decides_what_is_exported(
    serve: ServeFactory, database_url: str, tmp_path: Path
) -> None:
    seed_runs(database_url, 50)
    # Header mode; our loopback is no trusted proxy: only bearer tokens identify callers.
    served = serve(**header_identity("X-User", "10.0.0.0/8"), admin_principals="svc:admin")
    output = tmp_path / "runs.jsonl"

    anonymous = export(served, "runs", "--output", str(output))
    assert anonymous.exit_code == 1
    assert "401" in anonymous.output
    # A service account without grants sees none of the seeded experiments' runs; an admin all.
    for principal, records in (("svc:export", 0), ("svc:admin", 50)):
        token = make_token(database_url, principal)
        result = export(served, "runs", "--output", str(output), env={"EXPSVC_TOKEN": token})
        assert result.exit_code == 0, result.output
        assert f"exported runs: {records} records" in result.output
        assert len(output.read_bytes().splitlines()) == records


def make_token(database_url: str, principal: str) -> str:
    made = runner.invoke(
        app,
        ["token", "create", "--name", "export", "--principal", principal],
        env={"EXPSVC_DATABASE_URL": database_url},
    )
    assert made.exit_code == 0, made.output
    return next(word for word in made.output.split() if word.startswith("expsvc_"))


def test_resume_refuses_a_file_of_records_without_ids(seeded: Served, tmp_path: Path) -> None:
    """A file another export wrote (``--fields name``) has nothing to resume after."""
    for format, said in (("jsonl", "the last record has no id"), ("csv", "no id column")):
        output = tmp_path / f"names.{format}"
        names = export(seeded, "runs", "--format", format, "--fields", "name", "-o", str(output))
        assert names.exit_code == 0, names.output
        written = output.read_bytes()
        result = export(seeded, "runs", "--format", format, "--resume", "--output", str(output))
        assert result.exit_code == 1
        assert said in result.output
        assert output.read_bytes() == written  # left as it was


@contextmanager
def answering_once(answer: bytes) -> Iterator[str]:
    """A real HTTP server on loopback that answers one request with ``answer``'s bytes as they
    are, then closes the connection: a cut stream or a proxy's page, under the test's control."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                if not (data := connection.recv(65536)):
                    return
                request += data
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=10)


def test_a_stream_cut_short_says_to_resume_and_resume_completes_it(
    seeded: Served, tmp_path: Path
) -> None:
    whole = api(seeded, "/v1/runs/export").content
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
        + f"content-length: {len(whole)}\r\n\r\n".encode()
    )
    output = tmp_path / "runs.jsonl"
    with answering_once(head + whole[: len(whole) // 2]) as url:
        cut = runner.invoke(app, ["export", "runs", "--server", url, "--output", str(output)])
    assert cut.exit_code == 1
    assert "the export was cut short" in cut.output
    assert "--resume" in cut.output
    assert output.read_bytes() == whole[: len(whole) // 2]

    resumed = export(seeded, "runs", "--resume", "--output", str(output))
    assert resumed.exit_code == 0, resumed.output
    assert output.read_bytes() == whole


def test_an_answer_that_is_no_problem_document_is_shown_as_it_is(tmp_path: Path) -> None:
    """A proxy in front of the service may answer an error page of its own."""
    page = b"<html>bad gateway</html>"
    answer = (
        b"HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/html\r\n"
        + f"content-length: {len(page)}\r\nconnection: close\r\n\r\n".encode()
        + page
    )
    output = tmp_path / "runs.jsonl"
    with answering_once(answer) as url:
        result = runner.invoke(app, ["export", "runs", "--server", url, "--output", str(output)])
    assert result.exit_code == 1
    assert "HTTP 502: <html>bad gateway</html>" in result.output
    assert not output.exists()
