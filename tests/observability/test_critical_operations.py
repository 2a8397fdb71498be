"""docs/critical-operations.md: every critical operation names integration tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "critical-operations.md"
REQUIRED = (
    "create_run",
    "close_run: finish, fail, archive",
    "bulk transition",
    "webhook delivery",
    "inbound telemetry",
)
REQUIRED += ("reconciliation", "reaper", "export", "every transition: refusals, If-Match")
_TEST = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def operations() -> dict[str, list[tuple[str, str]]]:
    table: dict[str, list[tuple[str, str]]] = {}
    for line in PAGE.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in {"Operation", ""} or set(cells[0]) <= {"-"}:
            continue
        table[cells[0]] = _TEST.findall(cells[2])
    return table


def defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_listed_test_exists() -> None:
    for operation, tests in operations().items():
        for path, name in tests:
            file = ROOT / path
            assert file.is_file(), f"{operation}: {path} does not exist"
            assert name in defined_tests(file), f"{operation}: {path}::{name} does not exist"


def test_critical_operations_are_covered() -> None:
    table = operations()
    assert set(REQUIRED) <= table.keys(), set(REQUIRED) - table.keys()
    covered = [operation for operation, tests in table.items() if tests]
    assert len(covered) / len(table) >= 0.95, sorted(set(table) - set(covered))
    assert covered == list(table), f"operations without tests: {sorted(set(table) - set(covered))}"
