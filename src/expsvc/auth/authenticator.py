"""Turning a request into a :class:`Principal`, by ``EXPSVC_AUTH_MODE`` (docs/security.md).

* ``none``: identity is off. Only loopback peers are served (the CLI also refuses to bind
  anything else); each is the local user, an admin.
* ``header``: the identity header (and the groups header) is believed only from a peer inside
  ``EXPSVC_TRUSTED_PROXIES``; from anyone else it is 401, whatever the header says.
* ``jwt``: ``Authorization: Bearer <JWT>`` from the API Gateway, verified on every request.

In ``header`` and ``jwt`` modes an API token (``Authorization: Bearer expsvc_...``, from any
peer: it is a secret, not a claim) is accepted too; it is looked up on every use.

Whatever the mode, the service's own names are refused, and admins are the principals and
group members the settings name. The peer is the connection's (the ASGI scope's ``client``);
``serve`` runs uvicorn with ``proxy_headers=False``, so no header can change it.
"""

from __future__ import annotations

import functools
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import httpx
from starlette.requests import Request

from expsvc.api_token.service import ApiTokenVerifier, is_api_token
from expsvc.auth.errors import (
    InvalidAuthorizationHeader,
    InvalidToken,
    MissingCredentials,
    ReservedPrincipal,
    UntrustedPeer,
)
from expsvc.auth.jwks import JwksKeys
from expsvc.auth.jwt_verifier import JwtVerifier, ToPrincipal
from expsvc.auth.principal import (
    GROUP_NAME,
    LOCAL_PRINCIPAL,
    MAX_GROUPS,
    PRINCIPAL_ID,
    Principal,
    is_reserved,
)
from expsvc.db import Database
from expsvc.settings import AuthMode, Settings

Network = IPv4Network | IPv6Network


def peer_address(request: Request) -> IPv4Address | IPv6Address | None:
    """The connection's peer address; None when there is none or it is not an IP address."""
    client = request.scope.get("client")
    if not client:
        return None
    return _ip_address(client[0])


@functools.lru_cache(maxsize=1024)
def _ip_address(host: str) -> IPv4Address | IPv6Address | None:
    # Parsing costs more than the lookup, and a service sees few distinct peers (its proxies,
    # loopback); the cache is bounded either way.
    try:
        return ip_address(host)
    except ValueError:
        return None


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidAuthorizationHeader("the Authorization header must be 'Bearer <token>'")
    return token


class Authenticator:
    """The app's one authenticator (``app.state.authenticator``), built from the settings."""

    def __init__(
        self, settings: Settings, database: Database, http: httpx.AsyncClient | None = None
    ) -> None:
        self.mode = settings.auth_mode
        self.admin_principals = settings.admin_principals
        self.admin_groups = settings.admin_groups
        self.identity_header = settings.identity_header
        self.groups_header = settings.groups_header
        self.trusted_proxies: tuple[Network, ...] = settings.trusted_proxies
        self.http = http
        self.api_tokens = ApiTokenVerifier(database)
        self.jwt: JwtVerifier | None = None
        if self.mode is AuthMode.jwt:
            self.jwt = _jwt_verifier(settings, self._http_client(settings), self._from_claims)

    def _http_client(self, settings: Settings) -> httpx.AsyncClient:
        if self.http is None:
            self.http = httpx.AsyncClient(timeout=settings.jwks_timeout_seconds)
        return self.http

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    async def authenticate(self, request: Request) -> Principal:
        if self.mode is AuthMode.none:
            return self._local_user(request)
        token = _bearer_api_token(request)
        if token is not None:
            return self.principal(*await self.api_tokens.verify(token))
        if self.mode is AuthMode.header:
            return self._from_identity_header(request)
        return await self._from_jwt(request)

    def principal(self, principal_id: str, groups: frozenset[str]) -> Principal:
        """A caller's principal, refusing the service's own names."""
        if is_reserved(principal_id):
            raise ReservedPrincipal(f"{principal_id!r} is reserved for the service itself")
        is_admin = principal_id in self.admin_principals or not groups.isdisjoint(self.admin_groups)
        return Principal(principal_id, groups, is_admin)

    def _local_user(self, request: Request) -> Principal:
        peer = peer_address(request)
        if peer is None or not peer.is_loopback:
            # Defence in depth: `serve` refuses a non-loopback bind in this mode, but a process
            # started some other way (or a proxy on another host) must still not get an admin.
            raise UntrustedPeer(
                "identity is off (EXPSVC_AUTH_MODE=none): only loopback clients are served"
            )
        return LOCAL_PRINCIPAL

    def _from_identity_header(self, request: Request) -> Principal:
        assert self.identity_header is not None  # Settings refuse header mode without it
        peer = peer_address(request)
        if peer is None or not any(peer in network for network in self.trusted_proxies):
            raise UntrustedPeer(
                f"{peer or 'this peer'} is not in EXPSVC_TRUSTED_PROXIES; requests must come "
                "through the API Gateway"
            )
        value = request.headers.get(self.identity_header)
        if not value:
            raise MissingCredentials(f"missing identity header {self.identity_header}")
        if not PRINCIPAL_ID.fullmatch(value):
            raise MissingCredentials(f"malformed identity in header {self.identity_header}")
        groups: frozenset[str] | None = frozenset()
        if self.groups_header is not None:
            raw = request.headers.get(self.groups_header, "")
            groups = _groups([part.strip() for part in raw.split(",") if part.strip()])
            if groups is None:
                raise MissingCredentials(f"malformed groups in header {self.groups_header}")
        return self.principal(value, groups or frozenset())

    async def _from_jwt(self, request: Request) -> Principal:
        assert self.jwt is not None
        authorization = request.headers.get("authorization")
        if authorization is None:
            raise MissingCredentials("send the API Gateway's token: Authorization: Bearer <JWT>")
        return await self.jwt.verify(bearer_token(authorization))

    def _from_claims(self, subject: str, groups_claim: object) -> Principal:
        """The principal of a verified token's claims (cached with the token by the verifier)."""
        assert self.jwt is not None
        if not PRINCIPAL_ID.fullmatch(subject):
            raise InvalidToken(f"the token's {self.jwt.principal_claim!r} is not a principal id")
        groups = _groups(groups_claim if groups_claim is not None else [])
        if groups is None:
            raise InvalidToken(f"the token's {self.jwt.groups_claim!r} is not a list of groups")
        return self.principal(subject, groups)


def _bearer_api_token(request: Request) -> str | None:
    """The API token of ``Authorization: Bearer expsvc_...``; None for anything else (a JWT, a
    gateway's own credentials forwarded in header mode, no header)."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and is_api_token(value) else None


def _groups(value: object) -> frozenset[str] | None:
    """Valid group names as a set; None if ``value`` is not a list of at most 256 of them."""
    if not isinstance(value, list) or len(value) > MAX_GROUPS:
        return None
    if not all(isinstance(group, str) and GROUP_NAME.fullmatch(group) for group in value):
        return None
    return frozenset(value)


def _jwt_verifier(
    settings: Settings, http: httpx.AsyncClient, to_principal: ToPrincipal
) -> JwtVerifier:
    jwks = None
    if settings.jwt_jwks_url is not None:
        jwks = JwksKeys(
            settings.jwt_jwks_url,
            http,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            retry_after=settings.retry_after_seconds,
        )
    secret = settings.jwt_hs256_secret
    assert settings.jwt_issuer is not None  # Settings refuse jwt mode without them
    assert settings.jwt_audience is not None
    return JwtVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway=settings.jwt_leeway_seconds,
        principal_claim=settings.jwt_principal_claim,
        groups_claim=settings.jwt_groups_claim,
        to_principal=to_principal,
        jwks=jwks,
        public_key_pem=settings.jwt_public_key,
        hs256_secret=secret.get_secret_value().encode() if secret is not None else None,
        cache_size=settings.jwt_cache_size,
    )
