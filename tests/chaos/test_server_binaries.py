"""Without the PostgreSQL server binaries the tests that need them skip, except under
``CI=true``, where they fail: CI cannot pass with failover, restore and the drills skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import pgcluster


@pytest.fixture
def no_server_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "initdb").touch()  # one of the three is not enough
    monkeypatch.setattr(pgcluster, "bindir", lambda: tmp_path)


@pytest.mark.usefixtures("no_server_binaries")
def test_missing_binaries_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: no PostgreSQL server binaries"):
        pgcluster.require_server_binaries()


@pytest.mark.usefixtures("no_server_binaries")
@pytest.mark.parametrize("ci", ["", "false"])
def test_missing_binaries_skip_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="pg_basebackup"):
        pgcluster.require_server_binaries()


def test_missing_pg_config_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pg_config() -> Path:
        raise RuntimeError("pg_config not found")

    monkeypatch.setattr(pgcluster, "bindir", no_pg_config)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        pgcluster.require_server_binaries()


def test_present_binaries_neither_skip_nor_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    if not pgcluster.available():
        pytest.skip("this machine has no PostgreSQL server binaries")
    monkeypatch.setenv("CI", "true")
    pgcluster.require_server_binaries()
