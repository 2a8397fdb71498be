"""The drills' measured figures: bench/drills/results.json and the runbook's tables made from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.drills.catalogue import drills
from bench.drills.runbook import RUNBOOK, SUMMARY_MARKERS, anchor, replace_between, results_marker

RESULTS = Path(__file__).with_name("results.json")
TARGET_SECONDS = 20 * 60

Entry = dict[str, Any]


def read(path: Path = RESULTS) -> dict[str, Entry]:
    if not path.is_file():
        return {}
    data: dict[str, Entry] = json.loads(path.read_text())
    return data


def write(path: Path, results: dict[str, Entry]) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def _seconds(value: float) -> str:
    return f"{value:.1f} s"


def drill_table(name: str, entry: Entry | None) -> str:
    """The table under a runbook section: this drill's latest figures."""
    command = f"`python bench/drills/run.py --drill {name}`"
    if entry is None:
        return f"*Drill `{name}`: not measured yet* ({command}).\n"
    return (
        f"**Drill** ({command}, {entry['date']}, commit {entry['commit']}, load "
        f"{entry['load_before']} → {entry['load_after']}; machine time only, see "
        "[drills](#drills)):\n\n"
        "| detect | diagnose | fix | verify | total | first write after | writes acknowledged "
        "| lost | 503 / errors |\n|---|---|---|---|---|---|---|---|---|\n"
        f"| {_seconds(entry['detect'])} | {_seconds(entry['diagnose'])} | "
        f"{_seconds(entry['fix'])} | {_seconds(entry['verify'])} | "
        f"**{_seconds(entry['total'])}** | {_seconds(entry['first_write'])} | "
        f"{entry['acknowledged']} | {entry['lost']} | {entry['unavailable']} |\n"
        + (f"\n{entry['notes']}\n" if entry.get("notes") else "")
    )


def summary_table(results: dict[str, Entry]) -> str:
    lines = [
        "| drill (`run.py --drill`) | runbook section | failure injected | alerts | "
        "total (machine) | writes acknowledged | lost | 503 / errors | date, commit, load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, drill in drills().items():
        entry = results.get(name)
        alerts = ", ".join(f"`{alert}`" for alert in drill.alerts) or "—"
        section = f"[{drill.section}](#{anchor(drill.section)})"
        if entry is None:
            lines.append(
                f"| `{name}` | {section} | {drill.injects} | {alerts} | not measured | | | | |"
            )
            continue
        within = "" if entry["total"] < TARGET_SECONDS else " (over the 20 min target)"
        lines.append(
            f"| `{name}` | {section} | {drill.injects} | {alerts} | "
            f"{_seconds(entry['total'])}{within} | {entry['acknowledged']} | {entry['lost']} | "
            f"{entry['unavailable']} | {entry['date']}, {entry['commit']}, "
            f"{entry['load_before']} → {entry['load_after']} |"
        )
    return "\n".join(lines) + "\n"


def render(text: str, results: dict[str, Entry]) -> str:
    """The runbook's text with every drill table rendered from ``results``."""
    for name in drills():
        start, end = results_marker(name)
        text = replace_between(text, start, end, drill_table(name, results.get(name)))
    return replace_between(text, *SUMMARY_MARKERS, summary_table(results))


def write_runbook(results: dict[str, Entry]) -> None:
    RUNBOOK.write_text(render(RUNBOOK.read_text(), results))
