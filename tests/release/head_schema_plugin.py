"""A pytest plugin for the PREVIOUS release's own test run (``-p head_schema_plugin``, loaded by
tests/release/test_previous_release.py): its test template database is migrated by the code in
this tree, to this tree's head, instead of by the old release's own migrations.

The old conftest migrates its template with ``upgrade(url)`` imported from its ``expsvc.migrate``;
this replaces that name in the conftest module as it registers. The upgrade runs this tree's
``expsvc.migrate.upgrade`` with this tree's Python (``EXPSVC_N1_HEAD_PYTHON``), and the template
must then be at ``EXPSVC_N1_HEAD_REVISION``, so every old test runs against the head schema.

This file runs under the previous release's venv: it imports nothing of this tree.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

# The runtime role, when the release names one (0.2.0 on: its conftest migrates as the owner and
# grants to the runtime role), goes to this tree's upgrade as it would to the release's own.
_MIGRATE = (
    "import sys; from expsvc.migrate import upgrade; "
    "upgrade(sys.argv[1], **({'runtime_role': sys.argv[2]} if len(sys.argv) > 2 else {}))"
)


async def _revision(url: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        return str(await connection.fetchval("SELECT version_num FROM alembic_version"))
    finally:
        await connection.close()


def upgrade_to_the_head_schema(
    url: str, revision: str = "head", runtime_role: str | None = None
) -> None:
    if revision != "head":
        raise RuntimeError(f"the N-1 run migrates its template to the head only, not {revision}")
    role = [runtime_role] if runtime_role is not None else []
    subprocess.run([os.environ["EXPSVC_N1_HEAD_PYTHON"], "-c", _MIGRATE, url, *role], check=True)
    reached = asyncio.run(_revision(url))
    expected = os.environ["EXPSVC_N1_HEAD_REVISION"]
    if reached != expected:
        raise RuntimeError(f"the template is at {reached}, not at the head schema {expected}")


_replaced: list[str] = []


def pytest_plugin_registered(plugin: Any, manager: Any) -> None:
    if getattr(plugin, "__name__", None) == "tests.conftest":
        if not hasattr(plugin, "upgrade"):
            raise RuntimeError("the release's tests/conftest.py migrates its template otherwise")
        plugin.upgrade = upgrade_to_the_head_schema
        _replaced.append(plugin.__name__)


def pytest_collection_finish(session: Any) -> None:
    # Without the replacement the old tests would run on their own schema and prove nothing.
    if not _replaced:
        raise RuntimeError("tests.conftest was not loaded: its template would not be the head's")
