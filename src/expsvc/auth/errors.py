"""The errors of identity: who the caller is could not be established, or may not be used.

401 answers carry ``WWW-Authenticate: Bearer`` (RFC 6750): without an ``error`` when no
credentials came, with ``error="invalid_token"`` when they came and failed. Rendered as
problem+json by the one handler in :mod:`expsvc.error_handlers`.
"""

from __future__ import annotations

from typing import Any

from expsvc.errors import Forbidden, ServiceUnavailable, Unauthorized

REALM = "expsvc"


def _challenge(error: str | None = None, description: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error is not None:
        value += f', error="{error}"'
    if description is not None:
        # Quoted-string: our own texts, but never let a quote or backslash break the header.
        safe = description.replace("\\", "").replace('"', "'")
        value += f', error_description="{safe}"'
    return {"WWW-Authenticate": value}


class MissingCredentials(Unauthorized):
    """No credentials at all: the client should authenticate (RFC 6750 section 3)."""

    slug, title = "missing-credentials", "Missing credentials"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers=_challenge(), **extensions)


class InvalidToken(Unauthorized):
    """A bearer token that is malformed, expired, not yet valid, badly signed, revoked, for
    another issuer or audience, or whose principal may not be used."""

    slug, title = "invalid-token", "Invalid token"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers=_challenge("invalid_token", detail), **extensions)


class InvalidAuthorizationHeader(Unauthorized):
    """An Authorization header that is not ``Bearer <token>``."""

    slug, title = "invalid-authorization-header", "Invalid Authorization header"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers=_challenge("invalid_request", detail), **extensions)


class UntrustedPeer(Unauthorized):
    """Header mode: the identity header came from a peer outside EXPSVC_TRUSTED_PROXIES (or
    none mode: from a peer that is not loopback)."""

    slug, title = "untrusted-peer", "Request not from a trusted peer"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail, headers=_challenge(), **extensions)


class ReservedPrincipal(Forbidden):
    """The credentials name one of the service's own principals (``system:...``)."""

    slug, title = "reserved-principal", "Principal reserved for the service"


class AdminRequired(Forbidden):
    slug, title = "admin-required", "Admin required"


class IdentityProviderUnavailable(ServiceUnavailable):
    """The JWKS endpoint cannot be reached and no keys were ever fetched from it."""

    slug, title = "identity-provider-unavailable", "Identity provider unavailable"
