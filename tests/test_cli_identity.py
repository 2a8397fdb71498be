"""``expsvc serve`` refuses to expose a service whose identity is off."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from expsvc import cli
from tests.conftest import TEST_SECRET_KEY

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve stops short of serving, and leaves logging (bound to the runner's output, closed
    afterwards) and the process's signal handlers as they were."""
    monkeypatch.setattr("expsvc.observability.logging.configure_logging", lambda settings: None)
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (what the refusal is about)


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({"EXPSVC_HOST": ALL_INTERFACES}, []),
        ({}, ["--host", ALL_INTERFACES]),
        ({}, ["--host", "::"]),
        ({}, ["--host", "192.0.2.4"]),
        ({}, ["--host", "my-host.example"]),
    ],
)
def test_serve_with_identity_off_refuses_a_non_loopback_bind(
    env: dict[str, str], args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXPSVC_AUTH_MODE", raising=False)
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: served.append(k))
    result = runner.invoke(cli.app, ["serve", *args], env=env)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "EXPSVC_AUTH_MODE=none" in message
    assert "EXPSVC_HOST" in message
    assert "docs/security.md" in message
    assert served == []


@pytest.mark.parametrize("host", [None, "127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_with_identity_off_binds_loopback(
    host: str | None, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: served.append(k))
    monkeypatch.setenv("EXPSVC_DATABASE_URL", database_url)  # restored after the test
    args = ["serve"] if host is None else ["serve", "--host", host]
    result = runner.invoke(
        cli.app, args, env={"EXPSVC_LOG_LEVEL": "WARNING", "EXPSVC_SECRET_KEYS": TEST_SECRET_KEY}
    )
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == [host or "127.0.0.1"]


def test_serve_on_any_address_with_identity_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: served.append(k))
    monkeypatch.setenv("EXPSVC_DATABASE_URL", database_url)
    env = {
        "EXPSVC_AUTH_MODE": "header",
        "EXPSVC_IDENTITY_HEADER": "X-Forwarded-User",
        "EXPSVC_TRUSTED_PROXIES": "10.0.0.0/8",
        "EXPSVC_LOG_LEVEL": "WARNING",
        "EXPSVC_SECRET_KEYS": TEST_SECRET_KEY,
    }
    result = runner.invoke(cli.app, ["serve", "--host", ALL_INTERFACES], env=env)
    assert result.exit_code == 0, result.output
    assert [call["host"] for call in served] == [ALL_INTERFACES]
