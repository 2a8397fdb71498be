"""scripts/check-api-compat: the head document against the kept release documents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from expsvc.release.api_compat_check import check, releases_to_keep
from expsvc.release.catalogue import releases

ROOT = Path(__file__).resolve().parent.parent.parent
RELEASES = ROOT / "docs" / "openapi" / "releases"


def _copy_releases(tmp_path: Path) -> Path:
    directory = tmp_path / "releases"
    shutil.copytree(RELEASES, directory)  # the repository's accepted breaks included
    return directory


def _head_without_get_run(tmp_path: Path) -> Path:
    document = json.loads((ROOT / "docs" / "openapi" / "v1.json").read_text())
    del document["paths"]["/v1/runs/{run_id}"]["get"]
    head = tmp_path / "v1.json"
    head.write_text(json.dumps(document))
    return head


def test_every_cut_release_keeps_its_document() -> None:
    for release in releases():
        if release.commit is not None:
            document = json.loads((RELEASES / f"v{release.version}.json").read_text())
            assert document["info"]["version"] == release.version


def test_the_last_two_cut_releases_are_compared() -> None:
    kept = releases_to_keep()
    assert kept == [release for release in releases() if release.commit][-2:]
    assert kept  # 0.1.0 at least


def test_the_head_breaks_no_kept_release() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "check-api-compat")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "breaks no client of 0.1.0" in result.stdout


def test_a_break_fails_until_it_is_accepted_with_a_reason(tmp_path: Path) -> None:
    directory = _copy_releases(tmp_path)
    head = _head_without_get_run(tmp_path)
    accepted = directory / "accepted-breaks.toml"
    kept = [release.version for release in releases_to_keep()]
    assert sorted(check(head, directory, accepted)) == sorted(
        f"breaks {version}: operation-removed: GET /v1/runs/{{run_id}}: the operation is gone"
        for version in kept
    )
    for version in kept:  # accepted for each kept release; one accepted is not enough
        assert check(head, directory, accepted) != []
        accepted.write_text(
            accepted.read_text()
            + f'\n[[accepted]]\nrelease = "{version}"\ncode = "operation-removed"\n'
            'where = "GET /v1/runs/{run_id}"\nreason = "superseded by GET /v1/runs?id="\n'
        )
    assert check(head, directory, accepted) == []


def test_an_accepted_break_that_matches_nothing_fails(tmp_path: Path) -> None:
    directory = _copy_releases(tmp_path)
    accepted = directory / "accepted-breaks.toml"
    accepted.write_text(
        accepted.read_text() + '\n[[accepted]]\nrelease = "0.1.0"\ncode = "operation-removed"\n'
        'where = "GET /v1/nothing"\nreason = "stale"\n'
    )
    problems = check(ROOT / "docs" / "openapi" / "v1.json", directory, accepted)
    assert len(problems) == 1
    assert "matches nothing" in problems[0]


def test_a_missing_release_document_fails(tmp_path: Path) -> None:
    directory = _copy_releases(tmp_path)
    (directory / "v0.1.0.json").unlink()
    # The accepted breaks of 0.2.0 only (those of 0.1.0 would match nothing without it).
    blocks = (directory / "accepted-breaks.toml").read_text().split("\n[[accepted]]\n")
    accepted = directory / "accepted-0.2.0.toml"
    accepted.write_text(
        "".join(f"\n[[accepted]]\n{block}" for block in blocks if 'release = "0.2.0"' in block)
    )
    problems = check(ROOT / "docs" / "openapi" / "v1.json", directory, accepted)
    assert problems == [
        f"{directory / 'v0.1.0.json'} is missing: every cut release keeps its OpenAPI document"
    ]


def test_an_accepted_break_without_a_reason_is_refused(tmp_path: Path) -> None:
    directory = _copy_releases(tmp_path)
    accepted = directory / "accepted-breaks.toml"
    accepted.write_text(
        accepted.read_text() + '\n[[accepted]]\nrelease = "0.1.0"\ncode = "operation-removed"\n'
        'where = "GET /v1/runs/{run_id}"\nreason = " "\n'
    )
    with pytest.raises(ValueError, match="needs a reason"):
        check(_head_without_get_run(tmp_path), directory, accepted)
