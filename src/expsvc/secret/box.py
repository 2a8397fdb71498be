"""Sealing secrets for storage with Fernet (MultiFernet: the first key seals, every key opens).

A sealed value is :data:`SEALED_PREFIX` + a Fernet token, so it is told apart from a value
stored in clear before sealing existed (``whsec_…`` secrets, JSON bodies): :meth:`SecretBox.open`
returns such a value unchanged, and ``expsvc secrets rotate`` seals it.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from expsvc.errors import ProblemError

# "v1": Fernet under our keys. Another scheme would take another prefix, and open() both.
SEALED_PREFIX = b"enc:v1:"

_log = structlog.get_logger("expsvc.secrets")


class SecretUndecryptable(ProblemError):
    """A sealed value none of the configured keys opens: the key that sealed it was removed
    (or the keys are another deployment's). An operator's problem, never a client's."""

    slug, title, status = "secret-undecryptable", "Stored secret cannot be decrypted", 500

    def __init__(self) -> None:
        super().__init__(
            "a stored secret cannot be decrypted with the configured keys; the operator must "
            "restore the key it was encrypted with (EXPSVC_SECRET_KEYS)"
        )


class SecretBox:
    """Seals and opens stored secrets; holds the keys, never shows them."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._current = Fernet(keys[0])
        self._any = MultiFernet([Fernet(key) for key in keys])

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    @staticmethod
    def is_sealed(value: bytes) -> bool:
        return value.startswith(SEALED_PREFIX)

    def seal(self, plain: bytes) -> bytes:
        return SEALED_PREFIX + self._current.encrypt(plain)

    def open(self, stored: bytes) -> bytes:
        """The plain value; a value stored in clear (no prefix) comes back unchanged."""
        if not self.is_sealed(stored):
            return stored
        try:
            return self._decrypt(stored)
        except SecretUndecryptable:
            _log.error("a stored secret cannot be decrypted with any configured key")
            raise

    def reseal(self, stored: bytes) -> bytes | None:
        """``stored`` sealed with the first key; None when it already is (nothing to write).

        Raises :class:`SecretUndecryptable` (without logging: the caller counts them)."""
        if not self.is_sealed(stored):
            return self.seal(stored)
        try:
            self._current.decrypt(stored[len(SEALED_PREFIX) :])
        except InvalidToken:
            return self.seal(self._decrypt(stored))
        return None

    def _decrypt(self, stored: bytes) -> bytes:
        try:
            return self._any.decrypt(stored[len(SEALED_PREFIX) :])
        except InvalidToken:
            raise SecretUndecryptable() from None

    def seal_text(self, plain: str) -> str:
        return self.seal(plain.encode()).decode("ascii")

    def open_text(self, stored: str) -> str:
        return self.open(stored.encode()).decode()
