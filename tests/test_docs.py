"""The documentation names everything users can meet: settings, commands, error types, links."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

import expsvc
from expsvc.cli import app as cli_app
from expsvc.errors import ProblemError
from expsvc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ERRORS = (ROOT / "docs" / "errors.md").read_text()


def _import_everything() -> None:
    for module in pkgutil.walk_packages(expsvc.__path__, "expsvc."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def _subclasses(cls: type[ProblemError]) -> Iterator[type[ProblemError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def problem_slugs() -> list[str]:
    _import_everything()
    return sorted({cls.slug for cls in [ProblemError, *_subclasses(ProblemError)]})


def command_paths(command: object, prefix: str = "expsvc") -> Iterator[str]:
    for name, sub in dict(getattr(command, "commands", {})).items():
        yield f"{prefix} {name}"
        yield from command_paths(sub, f"{prefix} {name}")


@pytest.mark.parametrize("slug", [*problem_slugs(), "not-ready"])
def test_every_problem_type_is_documented(slug: str) -> None:
    assert f"| `{slug}` |" in ERRORS, f"docs/errors.md does not describe {slug!r}"


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(field: str) -> None:
    assert f"| `EXPSVC_{field.upper()}` |" in README


@pytest.mark.parametrize("command", sorted(command_paths(typer.main.get_command(cli_app))), ids=str)
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"`{command}" in README


@pytest.mark.parametrize(
    "document", [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))], ids=lambda p: p.name
)
def test_relative_links_resolve(document: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
        if not re.match(r"[a-z]+:", target):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
