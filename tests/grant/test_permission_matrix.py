"""Issue 11's permission matrix: every operation of the app's OpenAPI document, times every kind of
caller, on objects of another principal (alice), each with the status it must get.

The table (:data:`TABLE`) says what each operation needs; :func:`expected` derives each
caller's answer from that. Callers: a second owner, an editor and a viewer (grants to
principals), no grant, a group grant (editor, through the ``groups`` claim), an admin (through
``EXPSVC_ADMIN_GROUPS``), and three that fail authentication: no token, an expired one, one for
another audience. An operation the table does not name, or a row no operation has, fails
:func:`test_every_operation_has_a_row`: a new operation without an entry fails the matrix.

Objects an operation changes are made fresh for each case (through the API, as alice); reads
share one set made once for the module (see ``matrix_support.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
import pytest
import pytest_asyncio

from expsvc.openapi import build_openapi
from tests.grant.matrix_support import (
    CALLERS,
    HOOK_EVENTS,
    UNAUTHENTICATED,
    Matrix,
    module_database,
    open_stream,
)
from tests.grant.matrix_support import running_matrix as start_matrix
from tests.problems import assert_problem


class Need(Enum):
    public = "no identity at all (health, metrics)"
    authenticated = "any valid identity"
    read = "viewer on the object's experiment"
    edit = "editor on the object's experiment"
    own = "owner of the object's experiment"
    admin = "a platform admin"
    creator = "the object's creator (webhooks: alice) or an admin"
    listed = "any identity; the answer shows only what the caller may see"
    integration = "a neighbour's signature; bearer tokens count for nothing"


ROLE_OF = {
    "owner": 3,
    "editor": 2,
    "viewer": 1,
    "no_grant": 0,
    "group_grant": 2,  # vision-team holds editor
    "admin": 3,
}
RANK = {Need.read: 1, Need.edit: 2, Need.own: 3}
# Who sees alice's shared objects in a list (grants to principals and groups, admins).
READERS = frozenset({"owner", "editor", "viewer", "group_grant", "admin"})
EDITORS = frozenset({"owner", "editor", "group_grant", "admin"})


@dataclass(frozen=True)
class Request:
    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    # For listed operations: which piece of the answer must be there for callers who may see
    # it, and absent for the others.
    marker: str = ""


Build = Callable[[Matrix], Awaitable[Request]]


@dataclass(frozen=True)
class Row:
    need: Need
    build: Build
    success: int = 200
    not_found: str = ""  # the problem type of a missing object (object-scoped needs)
    visible_to: frozenset[str] = READERS  # listed: who sees the marker
    note: str = ""


def shared(**path: str) -> Build:
    """Path parameters naming the shared objects (read-only cases)."""

    async def build(m: Matrix) -> Request:
        names = {"experiment": m.shared.experiment, "run": m.shared.run}
        names |= {"capture": m.shared.capture, "webhook": m.shared.webhook}
        names |= {"delivery": m.shared.delivery}
        return Request(path={param: names[obj] for param, obj in path.items()})

    return build


def fresh(param: str, make: Callable[[Matrix], Awaitable[str]], **body: Any) -> Build:
    """A new object per case, named by path parameter ``param``."""

    async def build(m: Matrix) -> Request:
        return Request(path={param: await make(m)}, json=body or None)

    return build


def with_body(body: Any, **params: Any) -> Build:
    async def build(m: Matrix) -> Request:
        return Request(json=body, params=params)

    return build


def listing(marker: Callable[[Matrix], str], **params: Any) -> Build:
    async def build(m: Matrix) -> Request:
        return Request(params=params, marker=marker(m))

    return build


def bulk(make: Callable[[Matrix], Awaitable[str]], **body: Any) -> Build:
    """A bulk request on one new object, mode partial: the item's outcome is ``ok`` for callers
    who may change it and ``not_found`` for the others (as a single action would answer)."""

    async def build(m: Matrix) -> Request:
        entity_id = await make(m)
        return Request(json={**body, "mode": "partial", "ids": [entity_id]}, marker=entity_id)

    return build


def draft_experiment(m: Matrix) -> Awaitable[str]:
    return m.experiment()


def running_experiment(m: Matrix) -> Awaitable[str]:
    return m.experiment("running")


def draft_run(m: Matrix) -> Awaitable[str]:
    return m.run()


def running_run(m: Matrix) -> Awaitable[str]:
    return m.run("running")


def draft_capture(m: Matrix) -> Awaitable[str]:
    return m.capture()


def running_capture(m: Matrix) -> Awaitable[str]:
    return m.capture("running")


async def grant_change(m: Matrix) -> Request:
    path = {"experiment_id": await m.experiment(), "grantee_type": "principals"}
    return Request(path={**path, "name": "newcomer"}, json={"role": "viewer"})


async def grant_removal(m: Matrix) -> Request:
    path = {"experiment_id": await m.experiment(), "grantee_type": "principals"}
    return Request(path={**path, "name": "vera"})


async def run_in_shared(m: Matrix) -> Request:
    return Request(json={"experiment_id": m.shared.experiment, "name": "r"})


async def run_in_path(m: Matrix) -> Request:
    return Request(path={"experiment_id": m.shared.experiment}, json={"name": "r"})


async def capture_in_shared(m: Matrix) -> Request:
    return Request(path={"run_id": m.shared.run}, json={})


async def token_to_revoke(m: Matrix) -> Request:
    return Request(path={"token_id": await m.api_token()})


async def new_webhook_body(m: Matrix) -> Request:
    return Request(json={"url": m.receiver_url, "event_types": HOOK_EVENTS})


async def audit_of_shared(m: Matrix) -> Request:
    experiment_id = m.shared.experiment
    return Request(params={"entity_id": experiment_id}, marker=experiment_id)


def shared_experiment(m: Matrix) -> str:
    return m.shared.experiment


def created_event(m: Matrix) -> str:
    return f"experiments/{m.shared.experiment}"


def unsigned(m: Matrix) -> Awaitable[Request]:
    return with_body({"events": []})(m)


E, R, C, W = "experiment_id", "run_id", "capture_id", "webhook_id"
X_NF, R_NF, C_NF = "experiment-not-found", "run-not-found", "capture-not-found"
W_NF = "webhook-not-found"

TABLE: dict[str, Row] = {
    # Outside /v1: no identity asked, whatever credentials come.
    "get_liveness": Row(Need.public, with_body(None)),
    "get_readiness": Row(Need.public, with_body(None)),
    "get_metrics": Row(Need.public, with_body(None)),
    "get_me": Row(Need.authenticated, with_body(None)),
    # API tokens: admins only, whatever the caller's grants.
    "create_api_token": Row(Need.admin, with_body({"name": "matrix"}), 201),
    "list_api_tokens": Row(Need.admin, with_body(None)),
    "revoke_api_token": Row(Need.admin, token_to_revoke),
    # Experiments.
    "create_experiment": Row(Need.authenticated, with_body({"name": "own"}), 201),
    "list_experiments": Row(Need.listed, listing(shared_experiment, page_size=1000)),
    "get_experiment": Row(Need.read, shared(experiment_id="experiment"), not_found=X_NF),
    "export_experiments": Row(Need.listed, listing(shared_experiment, format="csv")),
    "update_experiment": Row(Need.edit, fresh(E, draft_experiment, name="renamed"), not_found=X_NF),
    "delete_experiment": Row(Need.own, fresh(E, draft_experiment), 204, X_NF),
    "bulk_tag_experiments": Row(
        Need.listed,
        bulk(draft_experiment, add=["m"]),
        visible_to=EDITORS,
        note="200 to everyone; the item is ok for editors, not_found for the others",
    ),
    "start_experiment": Row(Need.edit, fresh(E, draft_experiment), not_found=X_NF),
    "finish_experiment": Row(Need.edit, fresh(E, running_experiment), not_found=X_NF),
    "fail_experiment": Row(
        Need.edit, fresh(E, running_experiment, reason="matrix"), not_found=X_NF
    ),
    "archive_experiment": Row(Need.own, fresh(E, draft_experiment), not_found=X_NF),
    "get_experiment_history": Row(Need.read, shared(experiment_id="experiment"), not_found=X_NF),
    # Grants.
    "list_experiment_grants": Row(Need.read, shared(experiment_id="experiment"), not_found=X_NF),
    "put_experiment_grant": Row(Need.own, grant_change, not_found=X_NF),
    "delete_experiment_grant": Row(Need.own, grant_removal, 204, X_NF),
    # Runs.
    "create_run_in_experiment": Row(Need.edit, run_in_path, 201, X_NF),
    "create_run": Row(Need.edit, run_in_shared, 201, X_NF),
    "list_runs": Row(Need.listed, listing(lambda m: m.shared.run, page_size=1000)),
    "get_run": Row(Need.read, shared(run_id="run"), not_found=R_NF),
    "export_runs": Row(Need.listed, listing(lambda m: m.shared.run)),
    "update_run": Row(Need.edit, fresh(R, draft_run, tags=["m"]), not_found=R_NF),
    "bulk_transition_runs": Row(
        Need.listed,
        bulk(draft_run, action="start"),
        visible_to=EDITORS,
        note="200 to everyone; the item is ok for editors, not_found for the others",
    ),
    "bulk_tag_runs": Row(
        Need.listed,
        bulk(draft_run, add=["m"]),
        visible_to=EDITORS,
        note="200 to everyone; the item is ok for editors, not_found for the others",
    ),
    "start_run": Row(Need.edit, fresh(R, draft_run), not_found=R_NF),
    "finish_run": Row(Need.edit, fresh(R, running_run), not_found=R_NF),
    "fail_run": Row(Need.edit, fresh(R, running_run, reason="matrix"), not_found=R_NF),
    "archive_run": Row(Need.edit, fresh(R, draft_run), not_found=R_NF),
    "get_run_history": Row(Need.read, shared(run_id="run"), not_found=R_NF),
    "heartbeat_run": Row(Need.edit, shared(run_id="run"), 204, R_NF),
    "get_run_card": Row(Need.read, shared(run_id="run"), not_found=R_NF),
    "list_run_artifacts": Row(Need.read, shared(run_id="run"), not_found=R_NF),
    # Captures.
    "create_capture": Row(Need.edit, capture_in_shared, 201, R_NF),
    "list_run_captures": Row(Need.read, shared(run_id="run"), not_found=R_NF),
    "get_capture_reconciliation": Row(
        Need.admin,
        with_body(None),
        note="an operator's report naming captures of every experiment",
    ),
    "get_capture": Row(Need.read, shared(capture_id="capture"), not_found=C_NF),
    "update_capture": Row(Need.edit, fresh(C, draft_capture, sensors=["lidar"]), not_found=C_NF),
    "list_captures": Row(Need.listed, listing(lambda m: m.shared.capture, page_size=1000)),
    "start_capture": Row(Need.edit, fresh(C, lambda m: m.capture_in_running_run()), not_found=C_NF),
    "stop_capture": Row(Need.edit, fresh(C, running_capture), not_found=C_NF),
    "fail_capture": Row(Need.edit, fresh(C, running_capture, reason="matrix"), not_found=C_NF),
    "archive_capture": Row(Need.edit, fresh(C, draft_capture), not_found=C_NF),
    "get_capture_history": Row(Need.read, shared(capture_id="capture"), not_found=C_NF),
    # The event feed and the audit log show what the caller may read.
    "list_events": Row(Need.listed, listing(created_event, limit=1000)),
    "stream_events": Row(Need.listed, listing(created_event)),
    "list_audit_entries": Row(Need.listed, audit_of_shared),
    # Webhooks are their creator's: to anyone else (whatever their grants) they do not exist.
    "create_webhook": Row(Need.authenticated, new_webhook_body, 201),
    "list_webhooks": Row(
        Need.listed,
        listing(lambda m: m.shared.webhook, page_size=1000),
        visible_to=frozenset({"admin"}),
    ),
    "get_webhook": Row(Need.creator, shared(webhook_id="webhook"), not_found=W_NF),
    "update_webhook": Row(
        Need.creator, fresh(W, lambda m: m.webhook(), description="x"), not_found=W_NF
    ),
    "delete_webhook": Row(Need.creator, fresh(W, lambda m: m.webhook()), 204, W_NF),
    "rotate_webhook_secret": Row(Need.creator, fresh(W, lambda m: m.webhook()), not_found=W_NF),
    "list_webhook_deliveries": Row(Need.creator, shared(webhook_id="webhook"), not_found=W_NF),
    "get_webhook_delivery": Row(
        Need.creator, shared(webhook_id="webhook", delivery_id="delivery"), not_found=W_NF
    ),
    "redeliver_webhook": Row(
        Need.creator,
        shared(webhook_id="webhook", delivery_id="delivery"),
        202,
        W_NF,
        note="only the admin's case redelivers the shared delivery; it was delivered already",
    ),
    # Signed neighbour endpoints: an unsigned request is 401 invalid-signature for everyone.
    "receive_telemetry_events": Row(Need.integration, unsigned),
    "receive_artifact_events": Row(Need.integration, unsigned),
}


@dataclass(frozen=True)
class Expected:
    status: int
    problem: str | None = None  # the problem type's slug, for refusals


def expected(row: Row, caller: str) -> Expected:
    """What ``caller`` must get from an operation that needs ``row.need``."""
    if row.need is Need.public:
        return Expected(row.success)
    if row.need is Need.integration:
        return Expected(401, "invalid-signature")
    if caller in UNAUTHENTICATED:
        slug = "missing-credentials" if caller == "missing_token" else "invalid-token"
        return Expected(401, slug)
    if row.need in (Need.authenticated, Need.listed):
        return Expected(row.success)
    if row.need is Need.admin:
        return Expected(row.success) if caller == "admin" else Expected(403, "admin-required")
    if row.need is Need.creator:
        return Expected(row.success) if caller == "admin" else Expected(404, row.not_found)
    held = ROLE_OF[caller]
    if held == 0:
        return Expected(404, row.not_found)
    if held < RANK[row.need]:
        return Expected(403, "role-required")
    return Expected(row.success)


def operations() -> dict[str, tuple[str, str]]:
    """operationId → (method, path) of every operation of the app's OpenAPI document."""
    document = build_openapi()  # create_app(...).openapi(), without a database
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    }


OPERATIONS = operations()
CASES = [(operation_id, caller) for operation_id in sorted(OPERATIONS) for caller in CALLERS]


def test_every_operation_has_a_row() -> None:
    """A new operation without an entry (or an entry for an operation that is gone) fails."""
    assert sorted(set(OPERATIONS) - set(TABLE)) == [], "operations without a row in TABLE"
    assert sorted(set(TABLE) - set(OPERATIONS)) == [], "rows of operations that do not exist"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix(server_url: str, template_database: str) -> AsyncIterator[Matrix]:
    async with (
        module_database(server_url, template_database) as database_url,
        start_matrix(database_url) as running,
    ):
        yield running


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("operation_id", "caller"), CASES)
async def test_permission(matrix: Matrix, operation_id: str, caller: str) -> None:
    row = TABLE.get(operation_id)
    if row is None:
        pytest.fail(f"{operation_id} has no row in TABLE")
    method, template = OPERATIONS[operation_id]
    request = await row.build(matrix)
    path = template.format(**request.path)
    want = expected(row, caller)
    if operation_id == "stream_events" and want.status == 200:
        await _check_stream(matrix, caller, request, row)
        return
    kwargs: dict[str, Any] = {"params": request.params}
    if request.json is not None:
        kwargs["json"] = request.json
    response = await matrix.call(caller, method, path, **kwargs)
    _check(response, want, caller)
    if row.need is Need.listed and want.status == 200:
        _check_listed(response, request.marker, caller in row.visible_to, operation_id)


def _check(response: httpx.Response, want: Expected, caller: str) -> None:
    if want.problem is None:
        assert response.status_code == want.status, response.text
        return
    problem = assert_problem(response, want.status, want.problem)
    if want.status == 401 and want.problem != "invalid-signature":
        assert response.headers["www-authenticate"].startswith('Bearer realm="expsvc"')
    if want.problem == "role-required":
        assert problem["role"] in {"viewer", "editor"}, (caller, problem)


def _check_listed(response: httpx.Response, marker: str, visible: bool, operation_id: str) -> None:
    if operation_id.startswith("bulk_"):
        outcomes = {item["id"]: item["outcome"] for item in response.json()["items"]}
        assert outcomes == {marker: "ok" if visible else "not_found"}, response.text
        return
    if operation_id.startswith("export_"):  # a stream of records, not a page
        shown = marker in response.text
    else:
        shown = marker in json.dumps(response.json()["items"])
    assert shown is visible, f"{marker} {'missing from' if visible else 'leaked into'} the list"


async def _check_stream(matrix: Matrix, caller: str, request: Request, row: Row) -> None:
    visible = caller in row.visible_to
    query = f"after={matrix.shared.cursor_before}"
    started = await open_stream(
        matrix.app, "/v1/events/stream", matrix.headers[caller], query,
        until=lambda body: request.marker.encode() in body,
        wait=5.0 if visible else 0.3,
    )  # fmt: skip
    assert started.status == 200
    assert started.headers["content-type"].startswith("text/event-stream")
    assert (request.marker.encode() in started.body) is visible, started.body[:500]
