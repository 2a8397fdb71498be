"""The Grafana dashboard and the alert rules name only metrics the service exports, and every
dashboard expression parses (promtool, as a recording rule)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from expsvc.app import create_app
from tests.conftest import make_settings
from tests.observability.test_prometheus_rules import RULES, run_promtool

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "docs" / "monitoring" / "grafana").glob("*.json"))
# Grafana's variables, as Prometheus would see them once Grafana has substituted them.
_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
_NAME = re.compile(r"(?<![\w:])((?:expsvc|http_server)[\w:]*)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def dashboard_exprs() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [
        (rule.get("alert") or rule["record"], str(rule["expr"]))
        for group in groups
        for rule in group["rules"]
    ]


def recorded() -> set[str]:
    return {name for name, _ in rule_exprs() if ":" in name}


def family(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@pytest.fixture
async def exported(database_url: str) -> AsyncIterator[set[str]]:
    """Metric families of an app running every job (relay and webhook delivery included) and
    reading from a replica (the test database stands in: the families exist from the start)."""
    settings = make_settings(database_url, relay_enabled=True, database_replica_url=database_url)
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        registry: Any = app.state.metrics.registry
        yield {metric.name for metric in registry.collect()}


def test_there_is_a_dashboard_with_the_issue_s_rows() -> None:
    assert DASHBOARDS
    rows = {
        panel["title"]
        for path in DASHBOARDS
        for panel in json.loads(path.read_text())["panels"]
        if panel["type"] == "row"
    }
    expected = {
        "RED per route",
        "SLO burn",
        "Outbox and webhooks",
        "Worker jobs",
        "Database pool",
        "Read replica",
    }
    assert expected <= rows


async def test_every_metric_named_is_exported(exported: set[str]) -> None:
    rules = recorded()
    for where, expr in [*dashboard_exprs(), *rule_exprs()]:
        for name in _NAME.findall(expr):
            if ":" in name:
                assert name in rules, f"{where}: {name} is no recording rule of rules.yml"
            else:
                assert family(name) in exported, f"{where}: {name} is not exported"


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    rules = []
    for index, (_, expr) in enumerate(dashboard_exprs()):
        for variable, value in _VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:expr_{index}", "expr": expr})
    check = tmp_path / "dashboard-rules.yml"
    check.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert "SUCCESS" in run_promtool("check", "rules", str(check))
