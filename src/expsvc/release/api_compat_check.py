"""``scripts/check-api-compat``: the head OpenAPI document breaks neither of the last two
releases' (docs/adr/0021).

Each cut release of ``releases.toml`` keeps its document as ``docs/openapi/releases/vX.Y.Z.json``
(added when it is cut, docs/runbook.md). A break found against one of the last two is an error
unless ``docs/openapi/releases/accepted-breaks.toml`` lists it, with the reason it was accepted;
an entry that matches nothing is an error too, so the list stays true.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expsvc.release.api_compat import Break, breaking_changes
from expsvc.release.catalogue import Release, releases

COMPATIBLE_RELEASES = 2  # the head must not break this many of the latest cut releases


@dataclass(frozen=True)
class AcceptedBreak:
    release: str
    code: str
    where: str
    reason: str

    def matches(self, release: str, found: Break) -> bool:
        return (release, found.code, found.where) == (self.release, self.code, self.where)


def release_document(directory: Path, release: Release) -> Path:
    return directory / f"v{release.version}.json"


def releases_to_keep(catalogue: Sequence[Release] | None = None) -> list[Release]:
    """The latest cut releases whose clients the head must not break, oldest first."""
    cut = [release for release in (catalogue or releases()) if release.commit is not None]
    return cut[-COMPATIBLE_RELEASES:]


def read_accepted(path: Path) -> list[AcceptedBreak]:
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = tomllib.loads(path.read_text()).get("accepted", [])
    accepted = []
    for entry in entries:
        if not entry.get("reason", "").strip():
            raise ValueError(f"{path}: every accepted break needs a reason: {entry}")
        accepted.append(
            AcceptedBreak(entry["release"], entry["code"], entry["where"], entry["reason"])
        )
    return accepted


def check(head: Path, directory: Path, accepted_file: Path) -> list[str]:
    """The problems to report: unaccepted breaks, missing release documents, stale entries."""
    document = json.loads(head.read_text())
    accepted = read_accepted(accepted_file)
    used: set[AcceptedBreak] = set()
    problems: list[str] = []
    for release in releases_to_keep():
        path = release_document(directory, release)
        if not path.exists():
            problems.append(f"{path} is missing: every cut release keeps its OpenAPI document")
            continue
        for found in breaking_changes(json.loads(path.read_text()), document):
            match = next(
                (entry for entry in accepted if entry.matches(release.version, found)), None
            )
            if match is None:
                problems.append(f"breaks {release.version}: {found}")
            else:
                used.add(match)
    kept = {release.version for release in releases_to_keep()}
    problems += [
        f"{accepted_file}: accepted break matches nothing (remove it): {entry}"
        for entry in accepted
        if entry not in used and entry.release in kept
    ]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/check-api-compat", description=__doc__)
    parser.add_argument("--head", type=Path, default=Path("docs/openapi/v1.json"))
    parser.add_argument("--releases", type=Path, default=Path("docs/openapi/releases"))
    args = parser.parse_args(argv)
    problems = check(args.head, args.releases, args.releases / "accepted-breaks.toml")
    compared = ", ".join(release.version for release in releases_to_keep()) or "none cut yet"
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{args.head} breaks clients of {compared}: {len(problems)} problem(s)", file=sys.stderr
        )
        return 1
    print(f"{args.head} breaks no client of {compared}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
