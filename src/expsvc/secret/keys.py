"""Where the service's secret keys come from (``EXPSVC_SECRET_KEYS``, or the embedded key file).

- ``EXPSVC_SECRET_KEYS`` set: those Fernet keys, the first one sealing.
- unset, embedded default (no ``EXPSVC_DATABASE_URL``): one key generated on first start and
  kept in ``<data_dir>/secret.key`` (mode 0600), beside the database it protects, so the README's
  first command needs no configuration.
- unset, external database: :class:`SecretKeysMissing`. A key generated on one host's disk would
  differ between replicas and vanish with a container, making every stored secret unreadable.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.fernet import Fernet

from expsvc.secret.box import SecretBox
from expsvc.settings import Settings

KEY_FILE_NAME = "secret.key"
SETTING = "EXPSVC_SECRET_KEYS"
_FERNET_KEY_BYTES = 32


class SecretKeysError(RuntimeError):
    """The keys cannot be used; the message names the setting and never shows a key."""


class SecretKeysMissing(SecretKeysError):
    pass


class InvalidSecretKeys(SecretKeysError):
    pass


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def parse_keys(value: str, source: str = SETTING) -> list[bytes]:
    """Comma-separated Fernet keys (url-safe base64 of 32 bytes), blanks ignored."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise InvalidSecretKeys(f"{source} holds no key")
    for position, part in enumerate(parts, start=1):
        if not _is_fernet_key(part):
            raise InvalidSecretKeys(
                f"{source}: key {position} of {len(parts)} is not a Fernet key (url-safe base64 "
                "of 32 bytes; make one with `expsvc secrets generate-key`)"
            )
    return [part.encode("ascii") for part in parts]


def _is_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode("ascii"))) == _FERNET_KEY_BYTES
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def embedded_key(data_dir: Path) -> str:
    """The data dir's key, generated (mode 0600) on first use; safe against a concurrent start."""
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(generate_key() + "\n")
    text = path.read_text().strip()
    parse_keys(text, source=str(path))
    return text


def secret_keys(settings: Settings) -> str:
    """The comma-separated keys this process uses (see the module's docstring)."""
    configured = settings.secret_keys.get_secret_value() if settings.secret_keys else ""
    if configured.strip():  # set but empty counts as unset, as for any optional setting
        return configured
    if settings.embedded:
        return embedded_key(settings.data_dir)
    raise SecretKeysMissing(
        f"{SETTING} is not set: an external database (EXPSVC_DATABASE_URL) needs the keys that "
        "encrypt secrets at rest, the same in every process; generate one with "
        "`expsvc secrets generate-key` (docs/runbook.md, 'Secret keys')"
    )


def load_secret_box(settings: Settings) -> SecretBox:
    """The box of this process's keys; raises :class:`SecretKeysError` with a clear message."""
    return SecretBox(parse_keys(secret_keys(settings)))
