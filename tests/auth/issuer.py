"""A stand-in for the API Gateway's token issuer: real key pairs, real signed JWTs, and its JWKS
served over HTTP by a small real server on 127.0.0.1 (which counts its fetches)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://gateway.test"
AUDIENCE = "expsvc"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class SigningKey:
    algorithm: str
    private: PrivateKey
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def rsa(cls) -> SigningKey:
        return cls("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls) -> SigningKey:
        return cls("ES256", ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def ed25519(cls) -> SigningKey:
        return cls("EdDSA", ed25519.Ed25519PrivateKey.generate())

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        encoder = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}
        document: dict[str, Any] = encoder[self.algorithm].to_jwk(public, as_dict=True)  # type: ignore[attr-defined]
        return {**document, "kid": self.kid, "use": "sig"}

    def token(self, subject: str = "alice", *, kid: str | bool | None = True, **claims: Any) -> str:
        return sign(claims_for(subject, **claims), self.private, self.algorithm, self._kid(kid))

    def _kid(self, kid: str | bool | None) -> str | None:
        if kid is True:
            return self.kid
        return None if kid is False else kid  # type: ignore[return-value]


def claims_for(subject: str = "alice", **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: Any, algorithm: str, kid: str | None = None) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def unsigned(claims: dict[str, Any]) -> str:
    """``alg: none``: a header and claims with an empty signature."""
    return jwt.encode(claims, None, algorithm="none")


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/jwks`` on 127.0.0.1; ``keys`` can be swapped (a
    rotation) and ``fetches`` counts the GETs it answered."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.failing = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/jwks"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.fetches += 1
                    failing = owner.failing
                    body = json.dumps({"keys": [key.jwk() for key in owner.keys]}).encode()
                if failing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[JwksServer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
