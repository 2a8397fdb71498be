"""The previous release's code, installed from this repository's own history into a venv of its
own (tests/release/test_previous_release.py, docs/migrations.md#the-n-1-test).

The release's commit comes from releases.toml; ``git archive`` of that commit is extracted and
installed with its ``test`` extra. Both are kept under a directory keyed by the commit
(``EXPSVC_TEST_RELEASE_CACHE``, else ``~/.cache/expsvc/releases``), so only the first run pays for
the install; a ``ready`` file marks a finished one, and a lock keeps two runs from building the
same commit at once.
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from expsvc import __version__
from expsvc.release.catalogue import Release, release_key, releases

ROOT = Path(__file__).resolve().parents[2]


def previous_release(version: str = __version__) -> Release:
    """The newest cut release older than this code's own."""
    ours = release_key(version)
    older = [r for r in releases() if r.commit is not None and release_key(r.version) < ours]
    if not older:
        raise LookupError(f"releases.toml has no cut release before {version}")
    return older[-1]


def cache_root() -> Path:
    configured = os.environ.get("EXPSVC_TEST_RELEASE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "expsvc" / "releases"


@dataclass(frozen=True)
class InstalledRelease:
    release: Release
    source: Path  # the commit's tree: its tests run from here
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _extract(commit: str, into: Path) -> None:
    """The commit's tree from this clone's history (CI clones main, whose history has it)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise RuntimeError(
            f"git archive {commit} failed (a shallow clone lacks the release's commit): "
            f"{archive.stderr.decode(errors='replace').strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


def install(release: Release) -> InstalledRelease:
    """The release's code and its venv, built on first use and reused afterwards."""
    assert release.commit is not None
    home = cache_root() / release.commit
    installed = InstalledRelease(release, home / "source", home / "venv")
    with _locked(cache_root() / f"{release.commit}.lock"):
        if (home / "ready").exists():
            return installed
        shutil.rmtree(home, ignore_errors=True)  # an interrupted build starts over
        installed.source.mkdir(parents=True)
        _extract(release.commit, installed.source)
        subprocess.run([sys.executable, "-m", "venv", str(installed.venv)], check=True)
        subprocess.run(
            [str(installed.python), "-m", "pip", "install", "--quiet", f"{installed.source}[test]"],
            check=True,
        )
        (home / "ready").write_text(f"{release.version} {release.commit}\n")
    return installed
