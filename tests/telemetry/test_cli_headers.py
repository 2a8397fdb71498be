"""`expsvc telemetry replay --create-sessions` identifies itself to the API."""

from __future__ import annotations

from expsvc.settings import Settings
from expsvc.telemetry.cli import api_headers


def test_replay_identifies_itself_with_a_token_or_the_identity_header() -> None:
    plain = Settings(database_url="postgresql://x@127.0.0.1/x")
    token = "expsvc_" + "A" * 43
    assert api_headers(plain, "replayer", token) == {"Authorization": f"Bearer {token}"}
    assert api_headers(plain, "replayer", None) == {}
    gated = Settings(
        database_url="postgresql://x@127.0.0.1/x",
        auth_mode="header",
        identity_header="X-User",
        trusted_proxies="10.0.0.0/8",
    )
    assert api_headers(gated, "replayer", None) == {"X-User": "replayer"}
    assert api_headers(gated, "replayer", token) == {"Authorization": f"Bearer {token}"}
