"""The harness of the permission matrix (``test_permission_matrix.py``): one app in ``jwt`` mode
on a database of the module's own, a real issuer (RS256 key, JWKS over HTTP on 127.0.0.1), the
callers' tokens, and builders of alice's objects, granted to the callers as the matrix needs."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from expsvc.app import create_app
from expsvc.telemetry.reconciliation import reconcile
from tests.auth.issuer import AUDIENCE, ISSUER, JwksServer, SigningKey
from tests.conftest import _admin, _plain_url, make_settings
from tests.telemetry.support import ARTIFACT_SECRET, TELEMETRY_SECRET
from tests.webhook.receiver import Receiver
from tests.webhook.support import delivery_when

OWNER = "alice"
ADMIN_GROUP = "platform-admins"
EDITING_GROUP = "vision-team"
# The callers of the matrix: who they are (principal, groups) or how their token fails.
PRINCIPALS: dict[str, tuple[str, list[str]]] = {
    "owner": ("olga", []),
    "editor": ("eddie", []),
    "viewer": ("vera", []),
    "no_grant": ("nobody", []),
    "group_grant": ("gina", [EDITING_GROUP]),
    "admin": ("root", [ADMIN_GROUP]),
}
UNAUTHENTICATED = ("missing_token", "expired_token", "other_audience")
CALLERS = (*PRINCIPALS, *UNAUTHENTICATED)
# Only the shared objects' webhook deliveries are wanted: it subscribes to this one type.
HOOK_EVENTS = ["experiment.archived"]


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def caller_headers(key: SigningKey) -> dict[str, dict[str, str]]:
    """Each caller's request headers (and alice's, as ``alice``)."""
    hour = int(time.time()) + 3600
    headers = {
        name: _headers(key.token(principal, groups=groups, exp=hour))
        for name, (principal, groups) in PRINCIPALS.items()
    }
    headers["alice"] = _headers(key.token(OWNER, exp=hour))
    headers["missing_token"] = {}
    headers["expired_token"] = _headers(key.token("eddie", exp=int(time.time()) - 3600))
    headers["other_audience"] = _headers(key.token("eddie", aud="another-service", exp=hour))
    return headers


@dataclass
class Shared:
    """Alice's objects that read-only cases share (nothing changes them)."""

    experiment: str = ""
    run: str = ""
    capture: str = ""
    webhook: str = ""
    delivery: str = ""
    # The event feed's cursor just before the shared experiment's creation.
    cursor_before: int = 0


@dataclass
class Matrix:
    app: FastAPI
    http: httpx.AsyncClient
    headers: dict[str, dict[str, str]]
    receiver_url: str
    shared: Shared = field(default_factory=Shared)

    async def call(
        self, who: str, method: str, path: str, expect: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = await self.http.request(method, path, headers=self.headers[who], **kwargs)
        if expect is not None:
            assert response.status_code == expect, (method, path, response.text)
        return response

    async def alice(self, method: str, path: str, expect: int, **kwargs: Any) -> dict[str, Any]:
        body: dict[str, Any] = (await self.call("alice", method, path, expect, **kwargs)).json()
        return body

    async def experiment(self, status: str = "draft") -> str:
        """A new experiment of alice's with the callers' grants: olga owner, eddie editor,
        vera viewer, the group vision-team editor; started when ``status`` is running."""
        created = await self.alice("POST", "/v1/experiments", 201, json={"name": "m"})
        experiment_id = str(created["id"])
        grants = f"/v1/experiments/{experiment_id}/grants"
        for grantee, role in (
            ("principals/olga", "owner"),
            ("principals/eddie", "editor"),
            ("principals/vera", "viewer"),
            (f"groups/{EDITING_GROUP}", "editor"),
        ):
            await self.alice("PUT", f"{grants}/{grantee}", 200, json={"role": role})
        if status == "running":
            await self.alice("POST", f"/v1/experiments/{experiment_id}/start", 200)
        return experiment_id

    async def run(self, status: str = "draft", experiment_id: str | None = None) -> str:
        experiment_id = experiment_id or await self.experiment()
        path = f"/v1/experiments/{experiment_id}/runs"
        run_id = str((await self.alice("POST", path, 201, json={"name": "r"}))["id"])
        if status == "running":
            await self.alice("POST", f"/v1/runs/{run_id}/start", 200)
        return run_id

    async def capture(self, status: str = "draft", run_id: str | None = None) -> str:
        """A capture in a new run (running unless the capture is a draft, ``run_status``)."""
        run_id = run_id or await self.run("running" if status == "running" else "draft")
        capture = await self.alice("POST", f"/v1/runs/{run_id}/captures", 201, json={})
        if status == "running":
            await self.alice("POST", f"/v1/captures/{capture['id']}/start", 200)
        return str(capture["id"])

    async def capture_in_running_run(self) -> str:
        return await self.capture("draft", await self.run("running"))

    async def webhook(self) -> str:
        body = {"url": self.receiver_url, "event_types": HOOK_EVENTS}
        return str((await self.alice("POST", "/v1/webhooks", 201, json=body))["id"])

    async def api_token(self) -> str:
        response = await self.call("admin", "POST", "/v1/tokens", 201, json={"name": "m"})
        return str(response.json()["id"])

    async def build_shared(self) -> None:
        """A running experiment, run and capture; a webhook with one delivered delivery; a
        reconciliation report; and the experiment's creation sequenced in the event feed."""
        shared = self.shared
        shared.cursor_before = await self._feed_end()
        shared.experiment = await self.experiment()
        shared.run = await self.run("running", shared.experiment)
        shared.capture = await self.capture("running", shared.run)
        shared.webhook = await self.webhook()
        await self.alice("POST", f"/v1/experiments/{await self.experiment()}/archive", 200)
        async with _as(self, "alice") as alice:
            delivery = await delivery_when(
                alice, shared.webhook, lambda d: d["status"] == "succeeded"
            )
        shared.delivery = str(delivery["id"])
        await reconcile(self.app.state.database, self.app.state.settings)
        await self._sequenced(f"experiments/{shared.experiment}")

    async def _sequenced(self, subject: str, deadline: float = 10.0) -> None:
        """Wait until the relay has put ``subject``'s events in the feed (it is asynchronous)."""
        stop = time.monotonic() + deadline
        params = {"after": self.shared.cursor_before, "limit": 1000}
        while subject not in (await self.call("admin", "GET", "/v1/events", params=params)).text:
            assert time.monotonic() < stop, f"{subject} never reached the event feed"
            await asyncio.sleep(0.05)

    async def _feed_end(self) -> int:
        page = (await self.call("admin", "GET", "/v1/events", 200, params={"limit": 1000})).json()
        return int(page["next_cursor"])


def _as(matrix: Matrix, who: str) -> httpx.AsyncClient:
    """A client with ``who``'s headers on the matrix's transport (for the shared helpers)."""
    return httpx.AsyncClient(
        transport=matrix.http._transport, base_url="http://t", headers=matrix.headers[who]
    )


@asynccontextmanager
async def module_database(server_url: str, template: str) -> AsyncIterator[str]:
    """A database of the module's own at migration head, dropped afterwards."""
    name = f"expsvc_m_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _plain_url(server_url, name)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def running_matrix(database_url: str) -> AsyncIterator[Matrix]:
    key = SigningKey.rsa()
    receiver = Receiver().start()
    try:
        with JwksServer(key).running() as jwks:
            settings = make_settings(
                database_url,
                auth_mode="jwt",
                jwt_issuer=ISSUER,
                jwt_audience=AUDIENCE,
                jwt_jwks_url=jwks.url,
                admin_groups=ADMIN_GROUP,
                relay_enabled=True,
                webhook_allow_private_targets=True,
                webhook_max_per_owner=10_000,
                telemetry_ingest_secret=TELEMETRY_SECRET,
                artifact_service_secret=ARTIFACT_SECRET,
                capture_reconcile_interval_seconds=0,
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    matrix = Matrix(app, http, caller_headers(key), receiver.url)
                    await matrix.build_shared()
                    yield matrix
    finally:
        receiver.stop()


@dataclass
class StreamStart:
    status: int
    headers: dict[str, str]
    body: bytes


async def open_stream(
    app: FastAPI,
    path: str,
    headers: dict[str, str],
    query: str,
    until: Callable[[bytes], bool],
    wait: float,
) -> StreamStart:
    """The start of a (never-ending) streamed answer: its status, headers, and the body sent
    until ``until(body)`` holds or ``wait`` seconds pass. httpx's ASGI transport buffers whole
    answers, so this drives the ASGI app itself and then cancels it."""
    started: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    chunks: list[bytes] = []
    complete = asyncio.Event()
    request_sent = False

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # never disconnects; cancelled below
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.set_result(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False) or until(b"".join(chunks)):
                complete.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("t", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        start = await asyncio.wait_for(started, 10)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), wait)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    decoded = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return StreamStart(start["status"], decoded, b"".join(chunks))
