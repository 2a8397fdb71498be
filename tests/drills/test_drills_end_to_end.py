"""The short drills run end to end as in bench/drills/run.py: failure injected under write
load, recovered by the runbook's own commands, 0 acknowledged writes lost. A runbook command
that no longer works fails here."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.drills.catalogue import drills
from bench.drills.harness import Drill, make_template, stage

from tests.pgcluster import clusters, require_server_binaries

pytestmark = [pytest.mark.process, pytest.mark.chaos]
CI_DRILLS = [drill for drill in drills().values() if drill.ci]


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    require_server_binaries()
    with clusters():
        yield make_template()


@pytest.mark.parametrize("drill", CI_DRILLS, ids=lambda drill: drill.name)
def test_drill(drill: Drill, template: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with stage(template) as world:
        result = drill.run(world)
    with capsys.disabled():
        sys.stdout.write(f"\n[drill] {result.row()}\n")
    assert result.lost == 0
    assert result.acknowledged > 0
