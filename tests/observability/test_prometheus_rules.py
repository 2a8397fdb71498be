"""The Prometheus rules (docs/monitoring/prometheus): valid, unit-tested firing and not firing,
each alert linked to a runbook section that exists, each metric one the service exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "docs" / "monitoring" / "prometheus"
RULES = RULES_DIR / "rules.yml"
RULES_TESTS = RULES_DIR / "rules.test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: CI installs Debian's prometheus package (.ci/run)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+\s+(.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_promtool_check_rules() -> None:
    assert "SUCCESS" in run_promtool("check", "rules", RULES.name)


def test_promtool_test_rules() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", RULES_TESTS.name)


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULES_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in alerts():
        name = alert["alert"]
        outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: tested firing and not firing? {outcomes}"


def test_every_alert_links_its_runbook_section() -> None:
    sections = anchors(RUNBOOK.read_text())
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor in sections, f"{alert['alert']}: no section #{anchor} in docs/runbook.md"
        assert alert["labels"]["severity"] in {"page", "ticket"}
