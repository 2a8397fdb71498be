"""bench/export/run.py runs end to end on a tiny configuration, so it cannot rot unnoticed.
Figures are not checked here; docs/performance.md says how to take them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]


def test_export_bench_measures_every_format(server_url: str, tmp_path: Path) -> None:
    admin_url = make_url(server_url).set(drivername="postgresql", database="postgres")
    command = [
        sys.executable, str(ROOT / "bench" / "export" / "run.py"),
        "--server-url", admin_url.render_as_string(hide_password=False),
        "--runs", "300", "--experiments", "3", "--output-dir", str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [results] = tmp_path.glob("*.json")
    summary = json.loads(results.read_text())
    assert [result["format"] for result in summary["results"]] == ["jsonl", "csv", "json"]
    for result in summary["results"]:
        assert result["rows"] == 300
        assert result["rows_per_second"] > 0
        assert result["megabytes"] > 0
    assert summary["machine"]["load_average_before"]
