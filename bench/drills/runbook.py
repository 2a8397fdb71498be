"""docs/runbook.md as the drills read it: the one source of their commands and their results.

A section a drill follows holds three fenced blocks whose info string names the step:

    ```sh diagnose        commands run once; their output must show the failure
    ```sh fix             commands run once; each must exit 0
    ```sh verify          commands re-run until all exit 0 (the service recovered)

One command per line (a trailing backslash continues it); ``#`` lines are comments. Commands
read the operator's environment: the service's EXPSVC_* settings, ``EXPSVC_URL`` (its base URL)
and libpq's PG* variables (docs/runbook.md#how-to-read-the-commands).

The drills' measured times go between ``<!-- drill-results NAME -->`` and
``<!-- /drill-results -->`` in the drill's section, and the summary between
``<!-- drill-summary -->`` and ``<!-- /drill-summary -->``; ``run.py --write-runbook`` renders them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
STEPS = ("diagnose", "fix", "verify")

_HEADING = re.compile(r"^(#{2,4}) (.+?)\s*$", re.MULTILINE)
_FENCE = re.compile(r"^```sh (diagnose|fix|verify)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_VARIABLE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")


@dataclass(frozen=True)
class Steps:
    """The commands of one runbook section, by step."""

    section: str
    diagnose: tuple[str, ...]
    fix: tuple[str, ...]
    verify: tuple[str, ...]

    def commands(self) -> tuple[str, ...]:
        return self.diagnose + self.fix + self.verify

    def variables(self) -> set[str]:
        return {name for command in self.commands() for name in _VARIABLE.findall(command)}


def anchor(title: str) -> str:
    """GitHub's anchor of a heading (what rules.yml's runbook_url names)."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def sections(text: str) -> dict[str, str]:
    """Heading title -> the section's text up to the next heading of any level."""
    found = list(_HEADING.finditer(text))
    bodies: dict[str, str] = {}
    for index, heading in enumerate(found):
        end = found[index + 1].start() if index + 1 < len(found) else len(text)
        bodies[heading.group(2)] = text[heading.end() : end]
    return bodies


def _commands(block: str) -> tuple[str, ...]:
    commands: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        commands.append((pending + line.strip()) if pending else line.strip())
        pending = ""
    if pending:
        raise ValueError(f"a command ends in a backslash: {pending!r}")
    return tuple(commands)


def steps(section: str, text: str | None = None) -> Steps:
    """The diagnose, fix and verify commands of ``section`` (its heading's title)."""
    body = sections(RUNBOOK.read_text() if text is None else text).get(section)
    if body is None:
        raise KeyError(f"docs/runbook.md has no section {section!r}")
    found: dict[str, list[str]] = {step: [] for step in STEPS}
    for match in _FENCE.finditer(body):
        found[match.group(1)] += _commands(match.group(2))
    missing = [step for step in STEPS if not found[step]]
    if missing:
        raise KeyError(f"section {section!r} of docs/runbook.md has no `sh {missing[0]}` block")
    return Steps(section, *(tuple(found[step]) for step in STEPS))


def replace_between(text: str, start: str, end: str, content: str) -> str:
    """``text`` with what lies between the ``start`` and ``end`` markers replaced."""
    pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise KeyError(f"docs/runbook.md has no {start} … {end}")
    return pattern.sub(lambda _: f"{start}\n{content}{end}", text, count=1)


def results_marker(name: str) -> tuple[str, str]:
    return f"<!-- drill-results {name} -->", "<!-- /drill-results -->"


SUMMARY_MARKERS = ("<!-- drill-summary -->", "<!-- /drill-summary -->")
