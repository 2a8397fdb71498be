"""The generated SDK sends API tokens: ``AuthenticatedClient(token=...)`` (in process, through
the app's ASGI interface)."""

from __future__ import annotations

from typing import Any

import httpx
from expsvc_client import AuthenticatedClient, Client
from expsvc_client.api.identity import get_me
from expsvc_client.api.tokens import create_api_token
from expsvc_client.models import ApiTokenCreate, ApiTokenWithSecret, MeRead, Problem

from expsvc.app import create_app
from tests.auth.issuer import AUDIENCE, ISSUER, SigningKey
from tests.conftest import make_settings


async def test_the_sdk_authenticates_with_a_token(database_url: str) -> None:
    key = SigningKey.ec()
    settings = make_settings(
        database_url,
        auth_mode="jwt",
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        jwt_public_key=key.public_pem(),
        admin_principals="root",
    )
    app = create_app(settings)
    transport: dict[str, Any] = {"transport": httpx.ASGITransport(app=app)}
    base = "http://testserver"
    async with app.router.lifespan_context(app):
        # The gateway's JWT and an API token go the same way: Authorization: Bearer.
        async with AuthenticatedClient(
            base_url=base, token=key.token("root", kid=False), httpx_args=transport
        ) as root:
            created = await create_api_token.asyncio(
                client=root, body=ApiTokenCreate(name="sdk", principal="svc:sdk")
            )
        assert isinstance(created, ApiTokenWithSecret), created
        async with AuthenticatedClient(
            base_url=base, token=created.token, httpx_args=transport
        ) as client:
            me = await get_me.asyncio(client=client)
        assert isinstance(me, MeRead)
        assert me.principal == "svc:sdk"
        async with Client(base_url=base, httpx_args=transport) as anonymous:
            refused = await get_me.asyncio_detailed(client=anonymous)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, Problem)
