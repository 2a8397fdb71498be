"""``expsvc export`` against a served app: formats, filters, fields, resuming a cut file,
refusals, and the caller's token."""

from __future__ import annotations

import csv
import io
import json
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
