from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from expsvc.app import create_app
from tests.auth.issuer import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.conftest import make_settings

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa()


@pytest.fixture
def jwks(rsa_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer(rsa_key).running() as server:
        yield server


def jwt_settings(**overrides: Any) -> dict[str, Any]:
    return {"auth_mode": "jwt", "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, **overrides}


@asynccontextmanager
async def serving(app: FastAPI, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
def client_with(database_url: str) -> ClientFactory:
    """``async with client_with(peer="...", **settings) as http``: a client of an app built with
    these settings overrides, talking from ``peer`` (the ASGI scope's client address)."""

    def build(peer: str = "127.0.0.1", **overrides: Any) -> Any:
        return serving(create_app(make_settings(database_url, **overrides)), peer)

    return build
