"""Bearer JWTs issued by the API Gateway, verified on every request.

The algorithm is taken from the token only to pick among the ones we accept, and each accepted
algorithm has its own key: RS256, ES256 and EdDSA use the JWKS or the configured public key
(whose type must match), HS256 only the configured secret and only when one is set. So
``alg: none`` is refused, and so is key confusion (an HS256 token "signed" with our RSA public
key as its secret): the public key is never an HMAC key.

A verified token's principal is remembered until the token expires, in an LRU keyed by the
token string (a hit costs a dictionary lookup instead of a signature check; see
docs/security.md for the figures). A removed key therefore stays trusted for the tokens it
already signed until they expire, as it would for a gateway caching sessions.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from expsvc.auth.errors import InvalidToken
from expsvc.auth.jwks import JwksKeys
from expsvc.auth.principal import Principal

ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
HMAC_ALGORITHM = "HS256"
_MAX_TOKEN_LENGTH = 16_384

Key = Any  # a cryptography public key, an HMAC secret, or a PyJWK


# Turns a verified token's principal and groups claims into a Principal (or raises).
ToPrincipal = Callable[[str, object], Principal]


def public_key_algorithm(pem: str) -> tuple[Key, str]:
    """The key of a PEM public key and the one algorithm it verifies; ValueError otherwise."""
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, "ES256"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key, "EdDSA"
    raise ValueError("EXPSVC_JWT_PUBLIC_KEY must be an RSA, EC P-256 or Ed25519 public key")


class JwtVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway: float,
        principal_claim: str,
        groups_claim: str,
        to_principal: ToPrincipal,
        jwks: JwksKeys | None = None,
        public_key_pem: str | None = None,
        hs256_secret: bytes | None = None,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.principal_claim = principal_claim
        self.groups_claim = groups_claim
        self.to_principal = to_principal
        self.jwks = jwks
        self.public_key = public_key_algorithm(public_key_pem) if public_key_pem else None
        self.hs256_secret = hs256_secret
        self.algorithms = ASYMMETRIC_ALGORITHMS | ({HMAC_ALGORITHM} if hs256_secret else set())
        self.cache_size = cache_size
        self.clock = clock
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`InvalidToken` (or the refusal of
        ``to_principal``) otherwise."""
        cached = self._verified.get(token)
        if cached is not None and self.clock() < cached[1]:
            self._verified.move_to_end(token)
            return cached[0]
        principal, expires_at = await self._verify(token)
        if self.cache_size:
            self._verified[token] = (principal, expires_at)
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted")
        key = await self._key(str(algorithm), header.get("kid"))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim!r} claim") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token's signature or claims are invalid") from None
        subject = claims.get(self.principal_claim)
        if not isinstance(subject, str):
            raise InvalidToken(f"the token has no string {self.principal_claim!r} claim")
        principal = self.to_principal(subject, claims.get(self.groups_claim))
        return principal, float(claims["exp"])

    async def _key(self, algorithm: str, kid: object) -> Key:
        if algorithm == HMAC_ALGORITHM:
            return self.hs256_secret
        if self.public_key is not None and self.public_key[1] == algorithm:
            return self.public_key[0]
        if self.jwks is not None and (kid is None or isinstance(kid, str)):
            found = await self.jwks.key(kid)
            # A JWK's type and curve fix its algorithm; it must be the token's.
            if found is not None and found.algorithm_name == algorithm:
                return found
            raise InvalidToken(f"no {algorithm} signing key with id {kid!r} is known")
        raise InvalidToken(f"no {algorithm} signing key is configured")
