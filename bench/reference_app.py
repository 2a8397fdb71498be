"""The ceiling of our stack: bare FastAPI + asyncpg on uvicorn running the service's own SQL.

bench/run.py measures it in the same run as the service, against the same database and with
the same wrk scripts, so "service / reference" is what the service's Python costs on top of
the statements it has to run. To keep that ratio honest this app runs *the service's
statements*: it imports the SQLAlchemy constructs the service builds at import, compiles them
for asyncpg once (``$1`` placeholders, parameters in order) and executes the text through
asyncpg's prepared statements, in the same order and in the same transaction as the service.
When the service's statements change, this app follows; when their parameters change, it
refuses to start (:func:`_compile`) rather than drift.

What it leaves out is the service's Python around the statements: no middleware, no
validation models, no services or recorders; an audit row and an event are a run snapshot and
a few fields, as the service writes them. Per request:

* get ``GET /v1/runs/{id}``: ``SELECT * FROM runs WHERE id = $1`` and the caller's access
  (``_readable_by_id``), no transaction (the service reads in autocommit too);
* create ``POST /v1/experiments/{id}/runs``: BEGIN; the idempotency claim (with an
  ``Idempotency-Key``); the run insert guarded by its open experiment; the change log (audit
  row and ``run.created`` event); the stored response; COMMIT;
* start ``POST /v1/runs/{id}/start``: BEGIN; claim; start the experiment if it is a draft
  (and, if it did, its change log); the guarded transition; the run's change log; stored
  response; COMMIT;
* finish ``POST /v1/runs/{id}/finish``: BEGIN; claim; the transition; the run's change log;
  stop the run's running capture sessions (and, if any stopped, their change log); stored
  response; COMMIT.

Run it with:

    EXPSVC_REFERENCE_DATABASE_URL=postgresql://... \\
        uvicorn reference_app:app --app-dir bench --workers 2 --no-access-log
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql import ClauseElement

from expsvc.auth.access import Role, access_parameters
from expsvc.auth.principal import ANONYMOUS, LOCAL_PRINCIPAL
from expsvc.capture.repository import _STOP_OF_RUNS
from expsvc.change_log import _TABLES, _WRITE
from expsvc.event.catalogue import created_event, transition_event
from expsvc.experiment.repository import _START_DRAFT_OF_RUN
from expsvc.idempotency.repository import (
    _CLAIM,
    _GET_LIVE,
    _STORE_RESPONSE_WITH_CHANGES,
    _key_lock_name,
)
from expsvc.ids import new_id
from expsvc.lifecycle import TRANSITIONS, Action, EntityKind, Status
from expsvc.models import runs
from expsvc.repository import _readable_by_id, _transition_statement
from expsvc.run.repository import _CREATE_IN_OPEN_EXPERIMENT, RunRepository
from expsvc.settings import Settings
from expsvc.transitions import (
    _CAPTURE_STOP_REASONS,
    FIRST_RUN_STARTED,
    PARENT_GUARDS,
)

_DIALECT = asyncpg_dialect()
# IN (…) lists rendered as the engine expands them at execution: one $n per element.
_EXPAND = {"render_postcompile": True}


@dataclass(frozen=True, slots=True)
class Statement:
    """A service statement compiled for asyncpg: its text and its parameters in order."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]  # values bound inside the construct (Core statements)

    def args(self, values: dict[str, Any]) -> list[Any]:
        fixed = self.fixed
        return [values[name] if name in values else fixed[name] for name in self.names]


def _compile(statement: ClauseElement, given: Collection[str]) -> Statement:
    """Compile ``statement`` as the service's engine does; refuse parameters we do not give."""
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs=_EXPAND)
    names = tuple(compiled.positiontup or ())
    fixed = {name: value for name, value in compiled.params.items() if value is not None}
    unknown = set(names) - set(given) - set(fixed)
    if unknown:
        raise RuntimeError(
            f"a service statement takes parameters the reference app does not give: "
            f"{sorted(unknown)}; update bench/reference_app.py\n{compiled.string}"
        )
    return Statement(compiled.string, names, fixed)


_CHANGE_LOG_NAMES = frozenset(
    f"{prefix}_{name}" for _, prefix, columns in _TABLES for name, _ in columns
)
_HISTORY_NAMES = tuple(name for name in _CHANGE_LOG_NAMES if name.startswith("h_"))
_RUN_COLUMNS = tuple(column.name for column in runs.c)
_ACCESS = frozenset(access_parameters(LOCAL_PRINCIPAL))
_TRANSITION_GIVEN = {
    "id", "target", "sources", "any_version", "versions", "parent_statuses", *_ACCESS
}  # fmt: skip
# The service's caller here is its local user (identity off): an admin, as in the service.
_READ_ACCESS = access_parameters(LOCAL_PRINCIPAL)
_EDIT_ACCESS = access_parameters(LOCAL_PRINCIPAL, Role.editor)

GET = _compile(_readable_by_id(RunRepository), {"id", *_ACCESS})
CLAIM = _compile(
    _CLAIM, {"lock_name", "principal", "key", "method", "path", "fingerprint", "ttl_seconds"}
)
GET_LIVE = _compile(_GET_LIVE, {"principal", "key"})
_STORE_GIVEN = {"status", "headers", "body", "principal", "key"}
STORE_RESPONSE_WITH_CHANGES = _compile(
    _STORE_RESPONSE_WITH_CHANGES, _STORE_GIVEN | _CHANGE_LOG_NAMES
)
CREATE = _compile(_CREATE_IN_OPEN_EXPERIMENT, {"experiment_id", *_RUN_COLUMNS, *_ACCESS})
CHANGE_LOG = _compile(_WRITE, _CHANGE_LOG_NAMES)
START_DRAFT_EXPERIMENT = _compile(_START_DRAFT_OF_RUN, {"run_id", *_ACCESS})
_EXPERIMENT_OPEN = PARENT_GUARDS[(EntityKind.run, Action.start)]
START = _compile(_transition_statement(runs, Status.running, _EXPERIMENT_OPEN), _TRANSITION_GIVEN)
FINISH = _compile(_transition_statement(runs, Status.finished, None), _TRANSITION_GIVEN)
STOP_CAPTURES = _compile(_STOP_OF_RUNS, {"run_ids"})

_START_VALUES = {
    "target": Status.running.value,
    "sources": [status.value for status in TRANSITIONS[Action.start].sources],
    "any_version": True,  # no If-Match
    "versions": [],
    "parent_statuses": [status.value for status in _EXPERIMENT_OPEN.statuses],
    **_EDIT_ACCESS,
}
_FINISH_VALUES = {
    "target": Status.finished.value,
    "sources": [status.value for status in TRANSITIONS[Action.finish].sources],
    "any_version": True,
    "versions": [],
    **_EDIT_ACCESS,
}
_RUN = EntityKind.run
_RUN_CREATED = created_event(_RUN)
_OUTCOME_COLUMNS = 4  # previous_status, previous_version, parent_id, parent_status
_TTL_SECONDS = 3600.0 * Settings.model_fields["idempotency_ttl_hours"].default  # the default
_BOOKKEEPING = frozenset({"version", "updated_at"})
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_MEDIA_TYPE = "application/json"


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str, option=_JSON_OPTIONS)  # asyncpg's UUIDs as str


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else _dumps(value).decode()


async def _init(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    url = os.environ["EXPSVC_REFERENCE_DATABASE_URL"]
    app.state.pool = await asyncpg.create_pool(url, min_size=4, max_size=20, init=_init)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


class _Refused(Exception):
    """Ends the request's transaction (rolled back) with this response."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True, slots=True)
class _Caller:
    """What the audit rows and events say about the request."""

    actor: str
    request_id: str
    idempotency_key: str | None
    client_address: str | None


def _caller(request: Request) -> _Caller:
    return _Caller(
        ANONYMOUS,
        os.urandom(16).hex(),  # the service's request id: 32 hex digits
        request.headers.get("idempotency-key"),
        request.client.host if request.client else None,
    )


def _change_log(
    caller: _Caller,
    kind: str,
    rows: Sequence[dict[str, Any]],
    *,
    action: str,
    event_type: str,
    source: str,
    changes: Sequence[dict[str, Any]],
    details: dict[str, Any],
    history: tuple[str, str, str | None] | None = None,
) -> dict[str, Any]:
    """The change log statement's values for ``rows`` (entities after the change): an audit
    row and an event each, and a status-history row each when ``history`` (from, to, reason)."""
    ids = [row["id"] for row in rows]
    count = len(ids)
    values: dict[str, Any] = {
        "a_actor": [caller.actor] * count,
        "a_source": [source] * count,
        "a_action": [action] * count,
        "a_entity_type": [kind] * count,
        "a_entity_id": ids,
        "a_changes": [_dumps(change).decode() for change in changes],
        "a_request_id": [caller.request_id] * count,
        "a_idempotency_key": [caller.idempotency_key] * count,
        "a_batch_id": [None] * count,
        "a_client_address": [caller.client_address] * count,
        # No request id came in, so the service's own is both (observability/middleware.py).
        "a_server_request_id": [caller.request_id] * count,
        "e_event_id": [uuid.uuid4() for _ in ids],
        "e_type": [event_type] * count,
        "e_entity_type": [kind] * count,
        "e_entity_id": ids,
        "e_occurred_at": [datetime.now(UTC)] * count,
        "e_data": [
            _dumps({kind: row, "actor": caller.actor, "source": source, **details}).decode()
            for row in rows
        ],
        "e_traceparent": [None] * count,
        "e_request_id": [caller.request_id] * count,
    }
    if history is None:
        values.update({name: [] for name in _HISTORY_NAMES})
    else:
        previous, target, reason = history
        values |= {
            "h_entity_type": [kind] * count,
            "h_entity_id": ids,
            "h_from_status": [previous] * count,
            "h_to_status": [target] * count,
            "h_actor": [caller.actor] * count,
            "h_reason": [reason] * count,
            "h_source": [source] * count,
            "h_request_id": [caller.request_id] * count,
            "h_batch_id": [None] * count,
        }
    return values


def _transition_log(
    caller: _Caller,
    kind: EntityKind,
    rows: Sequence[dict[str, Any]],
    action: Action,
    previous: str,
    source: str,
    reason: str | None,
) -> dict[str, Any]:
    target = rows[0]["status"]
    change: dict[str, Any] = {"status": {"before": previous, "after": target}}
    if reason is not None:
        change["reason"] = {"before": None, "after": reason}
    return _change_log(
        caller, kind.value, rows, action=action.value, event_type=transition_event(kind, action),
        source=source, changes=[change] * len(rows),
        details={"previous_status": previous, "reason": reason},
        history=(previous, target, reason),
    )  # fmt: skip


def _answer(run: dict[str, Any], status: int, location: bool = False) -> Response:
    headers = {"etag": f'"{run["version"]}"'}
    if location:
        headers["location"] = f"/v1/runs/{run['id']}"
    return Response(_dumps(run), status_code=status, media_type=_MEDIA_TYPE, headers=headers)


def _problem(status: int, detail: str) -> Response:
    body = _dumps({"status": status, "detail": detail})
    return Response(body, status_code=status, media_type="application/problem+json")


async def _claim(connection: asyncpg.Connection, request: Request, body: bytes) -> None:
    """The idempotency claim, first in the transaction (no key: nothing)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return
    path = request.url.path
    row = await connection.fetchrow(
        CLAIM.sql,
        *CLAIM.args(
            {
                "lock_name": _key_lock_name(ANONYMOUS, key),
                "principal": ANONYMOUS,
                "key": key,
                "method": "POST",
                "path": path,
                # The service canonicalises a JSON body first; the digest is what it stores.
                "fingerprint": hashlib.sha256(b"POST" + path.encode() + body).hexdigest(),
                "ttl_seconds": _TTL_SECONDS,
            }
        ),
    )
    if not row["locked"]:
        raise _Refused(_problem(409, "a request with this Idempotency-Key is in progress"))
    if not row["claimed"]:  # a replay (the benchmark's keys never repeat)
        stored = await connection.fetchrow(
            GET_LIVE.sql, *GET_LIVE.args({"principal": ANONYMOUS, "key": key})
        )
        replay = Response(stored["response_body"], status_code=stored["response_status"])
        replay.headers.update({**stored["response_headers"], "idempotent-replayed": "true"})
        raise _Refused(replay)


class _ChangeLog:
    """The request's change-log writes, as the service makes them: each at once without an
    Idempotency-Key; with one, held for the statement that stores the response."""

    def __init__(self, connection: asyncpg.Connection, request: Request) -> None:
        self.connection = connection
        self.key = request.headers.get("idempotency-key")
        self.held: dict[str, list[Any]] = {name: [] for name in _CHANGE_LOG_NAMES}

    async def write(self, values: dict[str, Any]) -> None:
        if self.key is None:
            await self.connection.execute(CHANGE_LOG.sql, *CHANGE_LOG.args(values))
            return
        for name, column in values.items():
            self.held[name] += column

    async def store(self, response: Response) -> None:
        """The held rows and the response stored with the claimed key: the last statement."""
        if self.key is None:
            return
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        stored = {
            "status": response.status_code,
            "headers": _dumps(headers).decode(),
            "body": response.body,
            "principal": ANONYMOUS,
            "key": self.key,
        }
        statement = STORE_RESPONSE_WITH_CHANGES
        await self.connection.execute(statement.sql, *statement.args(self.held | stored))


@app.get("/v1/runs/{run_id}")
async def get_run(run_id: uuid.UUID, request: Request) -> Response:
    row = await request.app.state.pool.fetchrow(GET.sql, *GET.args({"id": run_id, **_READ_ACCESS}))
    if row is None:
        return _problem(404, f"run {run_id} does not exist")
    return _answer(dict(row), 200)


@app.post("/v1/experiments/{experiment_id}/runs")
async def create_run(experiment_id: uuid.UUID, request: Request) -> Response:
    body = await request.body()
    fields: dict[str, Any] = orjson.loads(body)
    caller = _caller(request)
    values = {
        "experiment_id": experiment_id,
        "id": new_id(),
        "name": fields["name"],
        "tags": fields.get("tags", []),
        "params": _json_text(fields.get("params", {})),
        "participants": fields.get("participants", []),
        "git_sha": fields.get("git_sha"),
        "git_branch": fields.get("git_branch"),
        "git_repository": fields.get("git_repository"),
        "heartbeat_timeout_seconds": fields.get("heartbeat_timeout_seconds"),
        "max_duration_seconds": fields.get("max_duration_seconds"),
        "created_by": caller.actor,
        **_EDIT_ACCESS,
    }
    try:
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            await _claim(connection, request, body)
            row = await connection.fetchrow(CREATE.sql, *CREATE.args(values))
            if row is None:
                raise _Refused(_problem(404, f"experiment {experiment_id} does not exist"))
            if row["id"] is None:
                raise _Refused(_problem(409, f"experiment {experiment_id} is closed"))
            run = dict(zip(_RUN_COLUMNS, tuple(row)[2:], strict=True))  # after status, allowed
            changes = {
                name: {"before": None, "after": value}
                for name, value in run.items()
                if value is not None and name not in _BOOKKEEPING
            }
            log = _ChangeLog(connection, request)
            await log.write(
                _change_log(
                    caller, "run", [run], action="create", event_type=_RUN_CREATED,
                    source="user", changes=[changes], details={},
                ),
            )  # fmt: skip
            response = _answer(run, 201, location=True)
            await log.store(response)
    except _Refused as refused:
        return refused.response
    return response


async def _transition(
    connection: asyncpg.Connection,
    statement: Statement,
    values: dict[str, Any],
    run_id: uuid.UUID,
    caller: _Caller,
    action: Action,
    log: _ChangeLog,
) -> dict[str, Any]:
    """The run's guarded transition and its change log; the run after it."""
    row = await connection.fetchrow(statement.sql, *statement.args({**values, "id": run_id}))
    if row is None:
        raise _Refused(_problem(404, f"run {run_id} does not exist"))
    if row["id"] is None:
        raise _Refused(_problem(409, f"cannot {action.value} a {row['previous_status']} run"))
    run = dict(zip(_RUN_COLUMNS, tuple(row)[_OUTCOME_COLUMNS:], strict=True))
    await log.write(
        _transition_log(caller, _RUN, [run], action, row["previous_status"], "user", None)
    )
    return run


@app.post("/v1/runs/{run_id}/start")
async def start_run(run_id: uuid.UUID, request: Request) -> Response:
    body = await request.body()
    caller = _caller(request)
    try:
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            await _claim(connection, request, body)
            log = _ChangeLog(connection, request)
            started = await connection.fetchrow(
                START_DRAFT_EXPERIMENT.sql,
                *START_DRAFT_EXPERIMENT.args({"run_id": run_id, **_EDIT_ACCESS}),
            )
            if started is not None:  # the first run of a draft experiment starts it
                await log.write(
                    _transition_log(
                        caller, EntityKind.experiment, [dict(started)], Action.start, "draft",
                        "system", FIRST_RUN_STARTED,
                    )
                )  # fmt: skip
            run = await _transition(
                connection, START, _START_VALUES, run_id, caller, Action.start, log
            )
            response = _answer(run, 200)
            await log.store(response)
    except _Refused as refused:
        return refused.response
    return response


@app.post("/v1/runs/{run_id}/finish")
async def finish_run(run_id: uuid.UUID, request: Request) -> Response:
    body = await request.body()
    caller = _caller(request)
    try:
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            await _claim(connection, request, body)
            log = _ChangeLog(connection, request)
            run = await _transition(
                connection, FINISH, _FINISH_VALUES, run_id, caller, Action.finish, log
            )
            stopped = await connection.fetch(
                STOP_CAPTURES.sql, *STOP_CAPTURES.args({"run_ids": [run_id]})
            )
            if stopped:  # the service records them only when there are any
                rows = sorted((dict(row) for row in stopped), key=lambda row: row["id"])
                await log.write(
                    _transition_log(
                        caller, EntityKind.capture, rows, Action.stop, "running", "system",
                        _CAPTURE_STOP_REASONS[Action.finish],
                    )
                )  # fmt: skip
            response = _answer(run, 200)
            await log.store(response)
    except _Refused as refused:
        return refused.response
    return response
