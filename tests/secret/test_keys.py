"""Where the keys come from: the setting, the embedded default's key file, or a refusal."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from expsvc.app import create_app
from expsvc.cli import app as cli_app
from expsvc.secret.keys import (
    KEY_FILE_NAME,
    InvalidSecretKeys,
    SecretKeysMissing,
    generate_key,
    load_secret_box,
    parse_keys,
)
from expsvc.settings import Settings

runner = CliRunner()
EXTERNAL = "postgresql://nobody@127.0.0.1:1/never"


def test_embedded_default_makes_one_private_key_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")  # no EXPSVC_DATABASE_URL: embedded
    sealed = load_secret_box(settings).seal(b"whsec_x")

    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # The next start reads the same key back: what it sealed still opens.
    assert load_secret_box(settings).open(sealed) == b"whsec_x"
    assert len(parse_keys(key_file.read_text())) == 1


def test_external_database_without_keys_refuses_to_start() -> None:
    settings = Settings(database_url=EXTERNAL)
    with pytest.raises(SecretKeysMissing, match="EXPSVC_SECRET_KEYS is not set"):
        create_app(settings)


def test_serve_names_the_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPSVC_DATABASE_URL", EXTERNAL)
    monkeypatch.delenv("EXPSVC_SECRET_KEYS", raising=False)
    result = runner.invoke(cli_app, ["serve"])
    assert result.exit_code == 2
    assert "EXPSVC_SECRET_KEYS is not set" in result.output
    assert "Traceback" not in result.output


def test_a_malformed_key_is_named_by_position_never_shown() -> None:
    good, bad = generate_key(), "not-a-fernet-key-but-a-password"
    settings = Settings(database_url=EXTERNAL, secret_keys=f"{good},{bad}")
    with pytest.raises(InvalidSecretKeys) as raised:
        load_secret_box(settings)
    assert "key 2 of 2" in str(raised.value)
    assert bad not in str(raised.value)
    assert good not in str(raised.value)


def test_the_first_key_seals_and_every_key_opens() -> None:
    old, new = generate_key(), generate_key()
    sealed_with_old = load_secret_box(Settings(database_url=EXTERNAL, secret_keys=old)).seal(b"s")
    both = load_secret_box(Settings(database_url=EXTERNAL, secret_keys=f"{new},{old}"))
    assert both.open(sealed_with_old) == b"s"
    assert both.open(b"whsec_plain") == b"whsec_plain"  # stored before sealing: unchanged
    assert both.reseal(both.seal(b"s")) is None  # already under the first key
    resealed = both.reseal(sealed_with_old)
    assert resealed is not None
    assert load_secret_box(Settings(database_url=EXTERNAL, secret_keys=new)).open(resealed) == b"s"


def test_generate_key_prints_a_usable_key() -> None:
    result = runner.invoke(cli_app, ["secrets", "generate-key"])
    assert result.exit_code == 0
    assert len(parse_keys(result.output.strip())) == 1
