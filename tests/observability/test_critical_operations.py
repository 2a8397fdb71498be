"""docs/critical-operations.md: every critical operation names integration tests that exist, and
its modules are in the coverage gate that scripts/check-coverage enforces."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

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
        if line.startswith("## "):
            break  # the operations' table comes before the page's sections
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


def check_coverage() -> ModuleType:
    """scripts/check_coverage.py, whose parser is the one the CI gate uses."""
    spec = importlib.util.spec_from_file_location(
        "check_coverage", ROOT / "scripts" / "check_coverage.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_coverage_gate_names_modules_that_exist_at_95_percent_or_more() -> None:
    gates = check_coverage().gates(PAGE)
    assert len(gates) >= 30, "the page's coverage gate table was not found"
    paths = [gate.path for gate in gates]
    assert len(paths) == len(set(paths)), "a module is listed twice"
    for gate in gates:
        assert (ROOT / gate.path).is_file(), f"{gate.path} does not exist"
        assert gate.floor >= 95, f"{gate.path}: floor {gate.floor} % is below 95 %"


def test_every_operation_has_gated_modules_and_the_gate_names_only_operations() -> None:
    gates = check_coverage().gates(PAGE)
    gated = {operation for gate in gates for operation in gate.operations.split("; ")}
    # The business metrics are counted by the modules of the other operations.
    without_modules = set(operations()) - gated - {"business metrics counted on commit"}
    assert not without_modules, (
        f"operations without a module in the coverage gate: {without_modules}"
    )
    assert gated <= set(operations()), f"not operations of the table: {gated - set(operations())}"


def test_the_gate_fails_naming_the_module_below_its_floor(tmp_path: Path) -> None:
    gate = check_coverage()
    page = tmp_path / "page.md"
    page.write_text(
        "## Coverage gate\n\n| Module | Operations | Floor |\n|---|---|---|\n"
        "| `src/expsvc/ids.py` | ids | 95 % |\n"
    )
    (row,) = gate.gates(page)
    below = gate.Measured(row, statements=20, missing=[3, 4])
    assert not below.passed
    assert "90.0%" in gate.report([below])
    assert "BELOW" in gate.report([below])
    assert "3-4" in gate.report([below])
    assert gate.Measured(row, statements=20, missing=[3]).passed
