"""N-1 app on N schema (issue 13; docs/migrations.md#the-n-1-test): the previous release's code,
installed from its commit in releases.toml into a venv of its own, runs against a database
migrated by this tree to its head, as a migrate-first rollout leaves it.

- Its own smoke tests pass there: experiments, runs and their transitions, the event feed,
  webhooks and the audit log, with its pytest and its test conftest, whose template database is
  migrated by this tree instead (head_schema_plugin.py).
- Its readiness says what releases.toml declares: ready when this release's
  ``oldest_compatible_release`` includes it, not ready otherwise. For v0.1.0, which demands its
  exact head and is not declared compatible with 0.2.0's schema, that is 503.

The first run installs the release (about a minute, cached by commit: tests/release/previous.py);
then the smoke tests take a minute or two on a quiet machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from expsvc.migrate import head_revision
from expsvc.release.catalogue import current_release, release_key
from tests.release.previous import InstalledRelease, install, previous_release

pytestmark = pytest.mark.process

# The previous release's tests that make its smoke test, paths in its tree. A release that moves
# them changes this list when it becomes the previous one (docs/runbook.md, cutting a release).
# Files of the previous release's suite (0.2.0's), run against this tree's head schema: its
# endpoints and lifecycles, not its plan tests (test_filter_plans seeds 100,000 runs: minutes).
SMOKE_TESTS = (
    "tests/experiment/test_endpoints.py",
    "tests/run/test_endpoints.py",
    "tests/run/test_filters.py",
    "tests/test_lifecycle.py",
    "tests/event/test_feed.py",
    "tests/webhook/test_endpoints.py",
    "tests/audit/test_audit.py",
)

# Run by the previous release's Python: its app, in process, asked for its readiness.
_READINESS = """
import asyncio, json, sys
import httpx
from expsvc.app import create_app
from expsvc.settings import Settings

async def main():
    app = create_app(Settings(database_url=sys.argv[1], relay_enabled=False, log_level="WARNING"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://n-1") as client:
            response = await client.get("/health/ready")
    print(json.dumps({"status": response.status_code, "body": response.json()}))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def previous() -> InstalledRelease:
    return install(previous_release())


def _environment(server_url: str) -> dict[str, str]:
    # Without COVERAGE_*: scripts/test measures our code, not the previous release's.
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE_")}
    return inherited | {
        "EXPSVC_TEST_DATABASE_URL": server_url,
        "EXPSVC_N1_HEAD_PYTHON": sys.executable,
        "EXPSVC_N1_HEAD_REVISION": head_revision(),
        "PYTHONPATH": str(Path(__file__).parent),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def test_the_previous_release_passes_its_smoke_tests_on_the_head_schema(
    previous: InstalledRelease, server_url: str
) -> None:
    missing = [path for path in SMOKE_TESTS if not (previous.source / path).exists()]
    assert not missing, f"{previous.release.version} has no {missing}: update SMOKE_TESTS"
    pytest_arguments = [
        "-p",
        "head_schema_plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "addopts=",
    ]
    result = subprocess.run(
        [str(previous.python), "-m", "pytest", *pytest_arguments, *SMOKE_TESTS],
        cwd=previous.source,
        env=_environment(server_url),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b\d{2,} passed\b", summary), summary
    assert not re.search(r"skipped|deselected|xfail|error", summary), summary


def test_the_previous_releases_readiness_on_the_head_schema_is_what_releases_toml_says(
    previous: InstalledRelease, database_url: str, server_url: str
) -> None:
    result = subprocess.run(
        [str(previous.python), "-c", _READINESS, database_url],
        cwd=previous.source.parent,  # not the source tree: its expsvc is the installed one
        # From 0.2.0 on an app on an external database needs the keys of its secrets.
        env=_environment(server_url) | {"EXPSVC_SECRET_KEYS": Fernet.generate_key().decode()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    readiness = json.loads(result.stdout.strip().splitlines()[-1])
    old, new = previous.release, current_release()
    declared = release_key(old.version) >= release_key(new.oldest_compatible_release)
    if declared:
        expected = "ok" if old.schema_head == head_revision() else "ahead-compatible"
        assert readiness["status"] == 200, readiness
        assert readiness["body"]["checks"]["schema"] == expected, readiness
    else:
        # Not declared compatible: the old processes must leave the load balancer, and do.
        # (v0.1.0 says "behind" of any revision but its own: it knows no other word.)
        assert readiness["status"] == 503, readiness
        assert readiness["body"]["checks"]["schema"] != "ok", readiness
    assert readiness["body"]["schema_revision"] == head_revision()
    assert readiness["body"]["version"] == old.version
