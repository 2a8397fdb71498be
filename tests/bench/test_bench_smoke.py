"""The benchmark tooling runs end to end on a tiny configuration, so it cannot rot unnoticed.

bench/run.py seeds a copy of the suite's template database, starts ``expsvc serve`` (one worker
here, to start fast), and drives every scenario through bench/openloop (fixed rate) and bench/wrk
(maximum throughput, keep-alive and new connection per request), and the get, create and
transition scenarios against bench/reference_app.py (bare FastAPI + asyncpg running the
service's own statements, the ceiling), so a change of those statements that the reference can
no longer follow shows here. Figures are not checked here; docs/performance.md records them
from a full run on a quiet machine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
OPEN_LOOP_SCENARIOS = ("get", "create", "transition", "list", "mix", "get-new-connection")
WRK_SCENARIOS = ("get", "create", "transition", "list", "mix")
REFERENCE_SCENARIOS = ("get", "create", "transition")


def run_driver(server_url: str, template: str, output: Path, with_wrk: bool) -> dict[str, object]:
    command = [
        sys.executable, str(ROOT / "bench" / "run.py"),
        "--server-url", server_url, "--template-database", template, "--workers", "1",
        "--experiments", "4", "--runs", "300",
        "--rate", "60", "--duration", "0.5", "--warmup", "0",
        "--wrk-seconds", "1", "--wrk-connections", "2", "--wrk-threads", "1",
        "--reference-scenarios", ",".join(REFERENCE_SCENARIOS),
        "--output-dir", str(output),
    ]  # fmt: skip
    if with_wrk:
        command += ["--share-rounds", "1"]
    else:
        command.append("--skip-wrk")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "max req/s keep-alive" in done.stdout
    [results] = output.glob("*/results.json")
    loaded: dict[str, object] = json.loads(results.read_text())
    return loaded


def test_bench_driver_runs_every_scenario(
    server_url: str, template_database: str, tmp_path: Path
) -> None:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler to build bench/openloop")
    with_wrk = shutil.which("wrk") is not None
    results = run_driver(server_url, template_database, tmp_path, with_wrk)

    openloop = results["openloop"]
    assert isinstance(openloop, dict)
    for scenario in OPEN_LOOP_SCENARIOS:
        report = openloop[scenario]
        every = report["labels"]["all"]
        assert report["scheduled"] == 30, scenario
        assert every["ok"] == every["responses"] == 30, (scenario, every)
        assert every["latency_ms"]["p50"] > 0
    assert {"get", "list", "create", "start", "finish"} <= set(openloop["mix"]["labels"])
    assert openloop["transition"]["labels"]["start"]["status"] == {"200": 15}
    assert openloop["get-new-connection"]["keep_alive"] is False
    nodelay = results["nodelay"]
    assert isinstance(nodelay, dict)
    assert nodelay["reused_p50_ms"] > 0

    if not with_wrk:
        pytest.skip("wrk is not installed (apt-get install -y wrk): throughput runs not checked")
    wrk = results["wrk"]
    assert isinstance(wrk, dict)
    for scenario in WRK_SCENARIOS:
        for mode in ("keep_alive", "new_connection"):
            summary = wrk[scenario][mode]
            assert summary["requests"] > 0, (scenario, mode)
            assert summary["failed"] == 0, (scenario, mode, summary)
    ceiling = results["reference"]
    assert isinstance(ceiling, dict)
    for scenario in REFERENCE_SCENARIOS:
        for mode in ("keep_alive", "new_connection"):
            assert ceiling[scenario][mode]["requests"] > 0, (scenario, mode)
            assert ceiling[scenario][mode]["failed"] == 0, (scenario, mode, ceiling[scenario])
    shares = results["service_share_of_ceiling"]
    assert isinstance(shares, dict)
    assert set(shares) == set(REFERENCE_SCENARIOS)
    # The paired rounds: both sides measured in each round, the share their ratio.
    paired = results["paired_shares"]
    assert isinstance(paired, dict)
    assert set(paired) == set(REFERENCE_SCENARIOS)
    for scenario in REFERENCE_SCENARIOS:
        for mode in ("keep_alive", "new_connection"):
            (only,) = paired[scenario][mode]["rounds"]
            assert only["service"] > 0, (scenario, mode, only)
            assert only["reference"] > 0, (scenario, mode, only)
            assert only["share"] == round(only["service"] / only["reference"], 3)
            assert paired[scenario][mode]["median_share"] == only["share"]
