"""The runbook and the drills agree: every section a drill follows has its diagnose, fix and
verify blocks, uses only variables the drill provides and `expsvc` commands that exist; every
alert of rules.yml is raised by some drill's failure and links a section; the drill tables in
the runbook are the ones bench/drills/results.json renders."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import click
import pytest
import typer
import yaml
from bench.drills import report
from bench.drills.catalogue import drills
from bench.drills.harness import COMMON_VARIABLES, Drill
from bench.drills.runbook import (
    RUNBOOK,
    SUMMARY_MARKERS,
    Steps,
    anchor,
    results_marker,
    sections,
    steps,
)

from expsvc.cli import app
from tests.pgcluster import bindir

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "monitoring" / "prometheus" / "rules.yml"
DRILLS = drills()
# Shell words that start a command line but are not programs to look for.
SHELL_WORDS = {"until", "while", "do", "done", "nohup", "read", "sleep", "echo", "if", "then"}


def alerts() -> dict[str, str]:
    """Alert name -> the anchor of its runbook_url."""
    rules = yaml.safe_load(RULES.read_text())
    return {
        rule["alert"]: rule["annotations"]["runbook_url"].partition("#")[2]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def segments(command: str) -> list[list[str]]:
    """The simple commands of a command line (split at pipes, `;`, `&&`, `&`), as words."""
    words = shlex.split(command, posix=True)
    found: list[list[str]] = [[]]
    for word in words:
        if word in {"|", ";", "&&", "||", "&"} or word.endswith(";"):
            if word.endswith(";") and word != ";":
                found[-1].append(word[:-1])
            found.append([])
        elif re.match(r"^\d?>>?|^<", word):
            continue  # a redirection
        else:
            found[-1].append(word)
    return [segment for segment in found if segment]


@pytest.mark.parametrize("drill", DRILLS.values(), ids=lambda drill: drill.name)
def test_the_section_has_the_three_blocks_and_only_known_variables(drill: Drill) -> None:
    steps = drill.steps()
    unknown = steps.variables() - COMMON_VARIABLES - drill.variables
    assert not unknown, f"{drill.section!r} uses variables the drill does not set: {unknown}"


@pytest.mark.parametrize("drill", DRILLS.values(), ids=lambda drill: drill.name)
def test_every_expsvc_command_of_the_section_exists(drill: Drill) -> None:
    cli = typer.main.get_command(app)
    for command in drill.steps().commands():
        for words in segments(command):
            if words[0] == "nohup":
                words = words[1:]
            if words[0] != "expsvc":
                continue
            group: click.Command = cli
            arguments = words[1:]
            context = group.make_context("expsvc", [], resilient_parsing=True)
            while isinstance(group, click.Group):
                name = arguments.pop(0)
                found = group.get_command(context, name)
                assert found is not None, f"no command `{name}` in: {command}"
                group = found
            # Raises on an unknown option or a missing argument; a value the shell fills in
            # ($VARIABLE) that the option's type cannot parse here is no error.
            with contextlib.suppress(click.BadParameter):
                group.make_context(group.name or "", arguments)


@pytest.mark.parametrize("drill", DRILLS.values(), ids=lambda drill: drill.name)
def test_every_program_of_the_section_is_installed(drill: Drill) -> None:
    scripts = Path(sys.executable).parent  # expsvc, as the drills find it
    path = f"{bindir()}:{scripts}:{os.environ.get('PATH', '')}"
    for command in drill.steps().commands():
        for words in segments(command):
            program = words[1] if words[0] == "nohup" else words[0]
            if program in SHELL_WORDS or "=" in program:
                continue
            assert shutil.which(program, path=path), f"{program} not installed: {command}"


def test_every_alert_is_raised_by_a_drill_and_links_a_section() -> None:
    headings = {anchor(title) for title in sections(RUNBOOK.read_text())}
    drilled = {alert for drill in DRILLS.values() for alert in drill.alerts}
    for alert, target in alerts().items():
        assert target in headings, f"{alert} links #{target}, not a heading of the runbook"
        assert alert in drilled, f"no drill raises {alert}"
    assert drilled <= set(alerts()), "a drill names an alert rules.yml does not have"


@pytest.mark.parametrize("drill", DRILLS.values(), ids=lambda drill: drill.name)
def test_the_drill_table_is_in_its_own_section(drill: Drill) -> None:
    start, _ = results_marker(drill.name)
    assert start in sections(RUNBOOK.read_text())[drill.section]


def test_the_runbook_tables_are_rendered_from_the_recorded_results() -> None:
    text = RUNBOOK.read_text()
    assert SUMMARY_MARKERS[0] in text
    assert report.render(text, report.read()) == text, (
        "docs/runbook.md's drill tables differ from bench/drills/results.json: run "
        "`python bench/drills/run.py --write-runbook` (or render them from the file)"
    )


def test_a_block_of_the_next_section_does_not_count() -> None:
    text = (
        "## A\n\n```sh diagnose\nx\n```\n\n```sh verify\ny \\\n  --flag\n```\n\n"
        "### B\n\n```sh fix\nz\n```\n"
    )
    with pytest.raises(KeyError, match="sh fix"):
        steps("A", text)
    fixed = text.replace("### B\n\n", "")
    assert steps("A", fixed) == Steps("A", ("x",), ("z",), ("y --flag",))


def test_a_figure_that_changed_shows_in_the_rendered_runbook() -> None:
    results = report.read()
    name = next(iter(results))
    changed = {**results, name: {**results[name], "total": results[name]["total"] + 60}}
    text = RUNBOOK.read_text()
    assert report.render(text, changed) != text
