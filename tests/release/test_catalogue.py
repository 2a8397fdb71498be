"""The releases file says what is true of this tree (docs/adr/0017)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from alembic.script import ScriptDirectory

from expsvc import __version__
from expsvc.migrate import alembic_config, head_revision
from expsvc.release.catalogue import current_release, release_key, releases

ROOT = Path(__file__).resolve().parent.parent.parent
CHANGELOG = (ROOT / "CHANGELOG.md").read_text()
_NEWEST_FIRST = [
    revision.revision for revision in ScriptDirectory.from_config(alembic_config()).walk_revisions()
]


def _not_newer(older: str, newer: str) -> bool:
    return _NEWEST_FIRST.index(older) >= _NEWEST_FIRST.index(newer)


def test_releases_are_in_order_and_every_cut_one_names_its_commit_and_changelog_section() -> None:
    versions = [release_key(release.version) for release in releases()]
    assert versions == sorted(set(versions))
    *cut, last = releases()
    for release in cut:
        assert re.fullmatch(r"\d+\.\d+\.\d+", release.version)
        assert release.commit is not None
        assert re.fullmatch(r"[0-9a-f]{40}", release.commit)
        assert f"## [{release.version}] - {release.date}\n" in CHANGELOG
    assert last is current_release()


def test_the_code_belongs_to_the_last_release() -> None:
    this = current_release()
    assert release_key(__version__) == release_key(this.version)
    if __version__ != this.version:  # heading for it: a dev version, not yet cut
        assert re.fullmatch(r"\d+\.\d+\.\d+\.dev\d+", __version__)
        assert this.commit is None
        assert "## [Unreleased]\n" in CHANGELOG


def test_every_release_names_schemas_that_exist_in_order() -> None:
    for release in releases():
        assert _not_newer(release.oldest_schema, release.schema_head), release
        assert release_key(release.oldest_compatible_release) <= release_key(release.version)
    assert current_release().schema_head == head_revision(), (
        "a migration changed the head: set schema_head, and say in oldest_schema and "
        "oldest_compatible_release what the new schema supports"
    )
    heads = [release.schema_head for release in releases()]
    assert all(_not_newer(a, b) for a, b in itertools.pairwise(heads))


def test_release_key() -> None:
    assert release_key("0.2.0.dev0") == release_key("0.2.0") == (0, 2, 0)
    assert release_key("0.10.0") > release_key("0.9.1")
