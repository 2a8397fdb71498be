"""The load sandbox's pgbench scripts are the service's statements with every parameter bound.

No database here: tests/bench/test_sandbox_smoke.py runs them. These check the rendering that
pgbench would otherwise report only as an "undefined variable" at run time, and that the list
scripts hold the statements ``RunRepository.search`` executes for their queries.
"""

from __future__ import annotations

import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parents[2] / "bench" / "sandbox"
sys.path[:0] = [str(SANDBOX), str(SANDBOX.parent)]

import statements  # noqa: E402
from expsvc.run.schemas import RunQuery  # noqa: E402

EXPERIMENT = "01900000-0000-7000-8000-000000000001"
TODAY = datetime(2026, 12, 4, tzinfo=UTC)
# Variables a script sets itself (\set, \gset) or the sandbox defines for every script.
SET_BY_SCRIPTS = {"pick", "run_id", "experiment_id", "run_count", "experiment_count"}
_VARIABLE = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


def all_scripts() -> list[statements.Script]:
    weights = dict.fromkeys(statements.SCRIPT_NAMES, 1)
    return statements.scripts(weights, EXPERIMENT, TODAY)


def test_every_script_binds_every_parameter() -> None:
    made = all_scripts()
    assert [script.name for script in made] == list(statements.SCRIPT_NAMES)
    for script in made:
        text = script.text()
        assert not re.search(r"\$\d", text), script.name
        used = set(_VARIABLE.findall(text)) - SET_BY_SCRIPTS
        assert used == set(script.defines), script.name


def test_list_scripts_hold_the_statement_the_repository_runs() -> None:
    query = statements.resolve_query(
        statements.LIST_QUERIES["list-experiment-status"], EXPERIMENT, TODAY
    )
    statement = statements.list_statement(RunQuery.model_validate(query))

    def bound(pattern: str) -> list[object]:
        """The values bound to the placeholders ``pattern`` (a regex) finds in the SQL."""
        match = re.search(pattern, statement.sql)
        assert match is not None, statement.sql
        return [statement.fixed[statement.names[int(n) - 1]] for n in match.groups()]

    # One value compares with =, several bind one array, as the driver sends them.
    assert bound(r"runs\.experiment_id = \$(\d+)::UUID") == [uuid.UUID(EXPERIMENT)]
    assert bound(r"runs\.status = ANY \(\$(\d+)::VARCHAR\(16\)\[\]\)") == [["running", "failed"]]
    # The service asks for one row more than the page, to know whether another page follows.
    assert statement.fixed["page_limit"] == 51
    script = statements.list_script("list-experiment-status", query, 1)
    assert script.defines["list_experiment_status_1_filter_0"] == EXPERIMENT
    assert script.defines["list_experiment_status_1_filter_1"] == '{"running","failed"}'


def test_a_null_is_written_into_the_statement() -> None:
    [create] = statements.scripts({"create": 1}, EXPERIMENT, TODAY)
    insert = next(command for command in create.commands if "INSERT INTO runs" in command)
    # git_branch, git_repository, heartbeat_timeout_seconds, max_duration_seconds
    assert insert.count("NULL") >= 4
    assert "\\gset run_" in insert


def test_an_unknown_script_or_filter_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown pgbench script"):
        statements.scripts({"delete-everything": 1}, EXPERIMENT, TODAY)
    with pytest.raises(ValueError, match="no_such_filter"):
        statements.list_script("list-bad", {"no_such_filter": "x"}, 1)
