"""The releases file (``releases.toml`` beside this module): every release, oldest first, and
the one the code in this tree belongs to."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any

from expsvc import __version__

_RELEASE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def release_key(version: str) -> tuple[int, int, int]:
    """The release ``X.Y.Z`` a version belongs to, comparable: ``0.2.0.dev0`` → ``(0, 2, 0)``."""
    match = _RELEASE.match(version)
    if match is None:
        raise ValueError(f"not a release version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class Release:
    version: str
    schema_head: str
    oldest_schema: str
    oldest_compatible_release: str
    commit: str | None = None
    date: date | None = None

    @classmethod
    def from_toml(cls, entry: dict[str, Any]) -> Release:
        return cls(
            version=entry["version"],
            schema_head=entry["schema_head"],
            oldest_schema=entry["oldest_schema"],
            oldest_compatible_release=entry["oldest_compatible_release"],
            commit=entry.get("commit"),
            date=entry.get("date"),
        )


@cache
def releases() -> tuple[Release, ...]:
    text = files("expsvc.release").joinpath("releases.toml").read_text()
    return tuple(Release.from_toml(entry) for entry in tomllib.loads(text)["release"])


def current_release(version: str = __version__) -> Release:
    """The entry of the release this code is, or will be when it is cut."""
    wanted = release_key(version)
    for release in releases():
        if release_key(release.version) == wanted:
            return release
    raise RuntimeError(
        f"src/expsvc/release/releases.toml has no entry for {version}; add one (docs/adr/0017)"
    )
