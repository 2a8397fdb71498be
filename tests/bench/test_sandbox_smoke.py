"""The load sandbox (bench/sandbox/run) end to end on a tiny configuration.

It starts its private PostgreSQL cluster from ``pg_config --bindir``, seeds a few hundred runs,
runs pgbench over the service's own statements for two seconds, then ``expsvc serve`` under a
fixed-rate mix with telemetry alongside, and writes its report. Checked here: pgbench ran every
script, and every command of it, without a failure and left the runs it should have; every
HTTP request and telemetry event was accepted; the report's tables have rows; the plots are
PNG images with something drawn on them. Figures are not checked (docs/performance.md has a
full run's).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from matplotlib import image

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCRIPTS = (
    "get", "create", "transition", "list", "list-status-tag-window", "list-experiment-status",
    "list-name-prefix", "list-started-window",
)  # fmt: skip
HTTP_LABELS = ("get", "create", "start", "finish", "list", "list-status-tag-window")


def run_sandbox(output: Path) -> Path:
    command = [
        sys.executable, str(ROOT / "bench" / "sandbox" / "run"),
        "--runs", "300", "--experiments", "4",
        "--pgbench-seconds", "2", "--pgbench-clients", "2", "--pgbench-threads", "1",
        "--http-seconds", "2", "--http-warmup", "0.5", "--http-rate", "40", "--workers", "1",
        "--http-mix", "get=4,create=2,transition=2,list=1,list-status-tag-window=1",
        "--telemetry-rate", "5", "--telemetry-batch", "4", "--telemetry-sessions", "2",
        "--output-dir", str(output),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [report] = output.glob("*/report.md")
    return report.parent


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading`` (cells stripped, no header)."""
    table: list[str] = []
    for line in markdown.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]


def assert_png_has_a_plot(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    assert height > 100
    assert width > 100
    assert pixels.std() > 0.01, f"{path} is blank"


def test_sandbox_runs_pgbench_http_and_telemetry_and_reports(tmp_path: Path) -> None:
    if shutil.which("pg_config") is None or shutil.which("cc") is None:
        pytest.skip("needs the PostgreSQL server binaries (pg_config) and a C compiler")
    out = run_sandbox(tmp_path)
    results: dict[str, Any] = json.loads((out / "results.json").read_text())

    pgbench = results["pgbench"]
    assert pgbench["exit_code"] == 0, pgbench["stderr_tail"]
    assert pgbench["failed"] == 0
    assert not pgbench["aborted"]
    assert set(pgbench["scripts"]) == set(SCRIPTS)
    for name, script in pgbench["scripts"].items():
        assert script["transactions"] > 0, name
        assert script["failed"] == 0, name
        assert script["logged"]["count"] == script["transactions"], name
        assert script["commands"], name
        assert all(command["failures"] == 0 for command in script["commands"]), name
        assert pgbench["over_time"][name]["points"], name
    assert results["pgbench_writes"]["ok"], results["pgbench_writes"]
    assert results["pgbench_writes"]["found"]["finished"] > 0

    labels = results["http"]["openloop"]["labels"]
    assert set(HTTP_LABELS) <= set(labels)
    for label, figures in labels.items():
        assert figures["responses"] == figures["ok"] > 0, (label, figures)
    assert labels["all"]["ok"] == results["http"]["openloop"]["scheduled"] == 80
    telemetry = results["http"]["telemetry"]
    assert telemetry["errors"] == {}
    assert telemetry["results"] == {"applied": telemetry["events"]}
    assert telemetry["events"] == 4 * telemetry["requests"] > 0

    markdown = (out / "report.md").read_text()
    pgbench_rows = table_rows(markdown, "## pgbench")
    assert [row[0].strip("`") for row in pgbench_rows] == list(SCRIPTS)
    assert all(int(row[2]) > 0 and row[4] == "0" for row in pgbench_rows)
    http_rows = table_rows(markdown, "## HTTP")
    assert {row[0].strip("`") for row in http_rows} >= {"all", *HTTP_LABELS}
    telemetry_rows = table_rows(markdown, "### Telemetry replay")
    assert re.fullmatch(r"applied: \d+", telemetry_rows[0][3])
    assert "## Errors\n\n- none" in markdown
    for plot in ("pgbench-latency.png", "http-latency.png"):
        assert f"]({plot})" in markdown
        assert_png_has_a_plot(out / plot)
