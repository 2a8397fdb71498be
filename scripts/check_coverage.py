"""The per-module coverage gate of the critical operations (docs/critical-operations.md).

The gated modules and their floors are the table under "## Coverage gate" in
docs/critical-operations.md, the one place they are kept; tests/observability/
test_critical_operations.py checks that table against the source tree. This reads the combined
coverage data that scripts/test leaves in .coverage, prints one line per gated module and fails
naming every module below its floor.

    scripts/check-coverage                 after a full scripts/test run (CI's "coverage gate")
    scripts/check-coverage --data FILE     another coverage data file
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "critical-operations.md"
SECTION = "## Coverage gate"
_ROW = re.compile(r"^\|\s*`(src/expsvc/[\w/]+\.py)`\s*\|(.*)\|\s*(\d+(?:\.\d+)?)\s*%\s*\|\s*$")


@dataclass(frozen=True)
class Gate:
    path: str  # relative to the repository root
    operations: str
    floor: float


def gates(page: Path = PAGE) -> list[Gate]:
    """The rows of the coverage gate table, in the page's order."""
    rows: list[Gate] = []
    inside = False
    for line in page.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == SECTION
            continue
        match = _ROW.match(line.strip()) if inside else None
        if match:
            path, operations, floor = match.groups()
            rows.append(Gate(path, operations.strip(), float(floor)))
    return rows


@dataclass(frozen=True)
class Measured:
    gate: Gate
    statements: int
    missing: list[int]

    @property
    def percent(self) -> float:
        if not self.statements:
            return 100.0
        return 100.0 * (self.statements - len(self.missing)) / self.statements

    @property
    def passed(self) -> bool:
        # Compared as printed (one decimal), so the table and the verdict never disagree.
        return round(self.percent, 1) >= self.gate.floor


def _ranges(lines: list[int]) -> str:
    spans: list[str] = []
    for line in lines:
        if spans and int(spans[-1].split("-")[-1]) == line - 1:
            spans[-1] = f"{spans[-1].split('-')[0]}-{line}"
        else:
            spans.append(str(line))
    return ", ".join(spans)


def measure(data_file: Path, rows: list[Gate]) -> tuple[list[Measured], float]:
    """Each gated module's figures, and the line coverage of the whole of src/expsvc."""
    import io

    import coverage

    if not data_file.is_file():
        raise SystemExit(f"no coverage data at {data_file}: run scripts/test first")
    cov = coverage.Coverage(data_file=str(data_file), config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    measured: list[Measured] = []
    for gate in rows:
        _, statements, _, missing, _ = cov.analysis2(str(ROOT / gate.path))
        measured.append(Measured(gate, len(statements), sorted(missing)))
    return measured, cov.report(file=io.StringIO())


def report(measured: list[Measured]) -> str:
    width = max(len(m.gate.path) for m in measured)
    lines = [f"{'module':<{width}}  stmts  miss   cover  floor  verdict  missing lines"]
    for m in measured:
        verdict = "ok" if m.passed else "BELOW"
        lines.append(
            f"{m.gate.path:<{width}}  {m.statements:>5}  {len(m.missing):>4}  "
            f"{m.percent:>5.1f}%  {m.gate.floor:>4.0f}%  {verdict:<7}  {_ranges(m.missing)}"
        )
    statements = sum(m.statements for m in measured)
    missing = sum(len(m.missing) for m in measured)
    total = 100.0 * (statements - missing) / statements if statements else 100.0
    lines.append(f"{'all gated modules':<{width}}  {statements:>5}  {missing:>4}  {total:>5.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".coverage")
    arguments = parser.parse_args(argv)
    rows = gates()
    if not rows:
        print(f"{PAGE}: no table under {SECTION!r}", file=sys.stderr)
        return 2
    measured, whole = measure(arguments.data, rows)
    print(report(measured))
    print(f"src/expsvc as a whole: {whole:.1f}% (`coverage report` lists every module)")
    below = [m for m in measured if not m.passed]
    for m in below:
        print(
            f"coverage gate: {m.gate.path} is at {m.percent:.1f}%, below its {m.gate.floor:.0f}%",
            file=sys.stderr,
        )
    if below:
        return 1
    print(f"coverage gate: all {len(measured)} modules of the critical operations at their floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
