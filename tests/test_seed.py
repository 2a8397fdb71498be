"""``expsvc seed``: realistic data that respects the lifecycle rules."""

from __future__ import annotations

import asyncio

import asyncpg
from typer.testing import CliRunner

from expsvc.cli import app as cli
from tests.conftest import runtime_url


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


async def test_seed_creates_consistent_data(database_url: str) -> None:
    # The CLI runs its own event loop, so it gets a thread of its own.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["seed", "--experiments", "10", "--runs", "3000", "--capture-ratio", "0.5"],
        env={"EXPSVC_DATABASE_URL": runtime_url(database_url)},  # as the service's role
    )
    assert result.exit_code == 0, result.output
    assert "created 10 experiments and 3000 runs" in result.output

    statuses = dict(await _fetch(database_url, "SELECT status, count(*) FROM runs GROUP BY 1"))
    assert set(statuses) == {"draft", "running", "finished", "failed", "archived"}
    assert sum(statuses.values()) == 3000

    violations = {
        "running run in a closed experiment": """
            SELECT count(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id
            WHERE r.status IN ('draft', 'running') AND e.status <> 'running'""",
        "running capture under an ended run": """
            SELECT count(*) FROM capture_sessions c JOIN runs r ON r.id = c.run_id
            WHERE c.status = 'running' AND r.status <> 'running'""",
        "started run without its start in history": """
            SELECT count(*) FROM runs r WHERE r.status <> 'draft' AND NOT EXISTS (
                SELECT 1 FROM status_history h WHERE h.entity_id = r.id
                AND h.from_status = 'draft' AND h.to_status = 'running')""",
        "history that does not end at the current status": """
            SELECT count(*) FROM runs r JOIN LATERAL (
                SELECT to_status FROM status_history h WHERE h.entity_id = r.id
                ORDER BY h.created_at DESC, h.id DESC LIMIT 1) last ON true
            WHERE last.to_status <> r.status""",
        "timestamps out of order": """
            SELECT count(*) FROM runs
            WHERE started_at < created_at OR finished_at < started_at
               OR archived_at < finished_at""",
        "ended run without finished_at": """
            SELECT count(*) FROM runs
            WHERE status IN ('finished', 'failed') AND finished_at IS NULL""",
        "run whose sensors are not its capture sessions' (runs.sensors, ADR 0032)": """
            SELECT count(*) FROM runs r WHERE r.sensors IS DISTINCT FROM ARRAY(
                SELECT DISTINCT s FROM capture_sessions c, unnest(c.sensors) s
                WHERE c.run_id = r.id ORDER BY s)""",
        "experiment its creator does not own": """
            SELECT count(*) FROM experiments e WHERE NOT EXISTS (
                SELECT 1 FROM experiment_grants g WHERE g.experiment_id = e.id
                AND g.grantee = 'principal:' || e.created_by AND g.role = 'owner')""",
    }
    for name, query in violations.items():
        (row,) = await _fetch(database_url, query)
        assert row[0] == 0, name
    (captures,) = await _fetch(database_url, "SELECT count(*) FROM capture_sessions")
    assert captures[0] > 0


def test_seed_refuses_runs_without_experiments(database_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["seed", "--experiments", "0", "--runs", "10"],
        env={"EXPSVC_DATABASE_URL": database_url},
    )
    assert result.exit_code == 2
    assert "at least one experiment" in result.output
