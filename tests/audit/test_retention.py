"""The operator's retention purge in docs/audit.md works as written, and leaves the log
protected again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.conftest import OWNER_ROLE, ROOT, role_url
from tests.helpers import create_experiment


def documented_purge() -> str:
    text = (ROOT / "docs" / "audit.md").read_text()
    (block,) = [b for b in re.findall(r"```sql\n(.*?)```", text, re.S) if "DISABLE TRIGGER" in b]
    return block.replace("<your name>", "tester").replace("<change ticket>", "CHG-1")


async def test_the_documented_purge_removes_old_rows_only(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await create_experiment(client)  # a row of today
    # As the docs say: the owner of audit_log (no superuser), the role the migrations run as.
    connection = await asyncpg.connect(role_url(database_url, OWNER_ROLE))
    try:
        old = datetime.now(UTC) - timedelta(days=8 * 365)
        await connection.execute(
            "INSERT INTO audit_log (occurred_at, actor, source, action, entity_type, entity_id, "
            "changes) SELECT $1, 'old', 'user', 'create', 'run', gen_random_uuid(), '{}' "
            "FROM generate_series(1, 3)",
            old,
        )

        await connection.execute(documented_purge())

        rows = await connection.fetch("SELECT actor, action, request_id FROM audit_log ORDER BY id")
        assert [(r["actor"], r["action"]) for r in rows] == [
            ("anonymous", "create"),
            ("ops:tester", "purge"),
        ]
        assert rows[1]["request_id"] == "CHG-1"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("DELETE FROM audit_log")
        enabled = await connection.fetchval(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_log_append_only'"
        )
        # Enabled again, ALWAYS as migration 0015 left it ("char" comes back as bytes).
        assert enabled == b"A"
    finally:
        await connection.close()

    purge = (await client.get("/v1/audit", params={"action": "purge"})).json()["items"]
    assert purge[0]["changes"]["ticket"] == {"before": None, "after": "CHG-1"}
