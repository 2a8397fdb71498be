"""``expsvc telemetry`` in-process: the reconcile command, and replay's refusal without a secret."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from expsvc.cli import app

runner = CliRunner()


def test_reconcile_command_prints_the_report(database_url: str) -> None:
    result = runner.invoke(
        app, ["telemetry", "reconcile"], env={"EXPSVC_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.output)
    assert report["ingest"]["status"] == "disabled"
    assert report["stopped_run_closed"] == {"count": 0, "capture_ids": []}


def test_replay_needs_the_secret() -> None:
    result = runner.invoke(app, ["telemetry", "replay"], env={"EXPSVC_TELEMETRY_INGEST_SECRET": ""})
    assert result.exit_code == 2
    assert "EXPSVC_TELEMETRY_INGEST_SECRET" in result.output
