"""pgbench scripts holding the service's own hot statements, compiled from expsvc.

The statements are not copied here: get, create, start, finish and the change log come from
bench/reference_app.py, which compiles the constructs the service builds at import for asyncpg
(``$n`` placeholders, parameters in order) and refuses to start when their parameters drift;
list pages come from ``RunRepository.search`` itself, called as the service calls it for a
``GET /v1/runs`` query (:data:`LIST_QUERIES`) on a stand-in session that catches the statement
and its values. Each ``$n`` is then rendered for pgbench (``-M prepared``, so the server infers
the parameter types exactly as it does for asyncpg's prepared statements):

* a value that stays the same is a pgbench variable given with ``-D`` (``:get_access_admin``);
* a value that changes per transaction is an expression of pgbench variables: the run or
  experiment picked at random (``\\set`` + ``\\gset`` from a pick table, a separate command
  whose latency pgbench reports apart), the run a script just created (``\\gset``), a new
  UUIDv7 made as ``expsvc seed`` makes them, ``gen_random_uuid()`` for event ids;
* a NULL is written ``NULL`` (pgbench variables cannot hold one).

Audit and event payloads are those the service would write for a representative run (built
with reference_app's change-log helpers), constant per script.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import reference_app as ref  # noqa: E402 - bench/ is put on the path above
from reference_app import Statement, _Caller  # noqa: E402

from expsvc.auth.principal import ANONYMOUS, LOCAL_PRINCIPAL  # noqa: E402
from expsvc.lifecycle import Action, EntityKind  # noqa: E402
from expsvc.pagination import Ordering  # noqa: E402
from expsvc.run.repository import RunRepository  # noqa: E402
from expsvc.run.schemas import RunQuery  # noqa: E402
from expsvc.schemas import SortDirection  # noqa: E402
from expsvc.seed import _uuid7  # noqa: E402

# Tables the sandbox fills before pgbench runs (random picks need an integer key).
PICK_RUNS = "sandbox_pick_runs"
PICK_EXPERIMENTS = "sandbox_pick_experiments"
PICK_RUNS_SIZE = 10_000
# Runs created by the pgbench scripts carry this name prefix (counted after the run).
CREATED_NAME = "pgbench-sandbox"

# ``GET /v1/runs`` queries run as pgbench scripts (and by the HTTP load): the name is the
# script's, the value the query as the endpoint parses it. To measure a new filter, add a query
# here; "{experiment}" is replaced by an open seeded experiment's id and "{days_ago:N}" by the
# start of the day N days back.
LIST_QUERIES: dict[str, dict[str, Any]] = {
    "list": {"page_size": 50},
    "list-status-tag-window": {
        "status": ["finished"],
        "tag": ["gpu"],
        "created_after": "{days_ago:30}",
        "page_size": 50,
    },
    "list-experiment-status": {
        "experiment_id": "{experiment}",
        "status": ["running", "failed"],
        "page_size": 50,
    },
    "list-name-prefix": {"name_prefix": "resnet-run-1", "order_by": "name", "order": "asc"},
    "list-started-window": {
        "started_after": "{days_ago:20}",
        "started_before": "{days_ago:10}",
        "order_by": "started_at",
        "page_size": 50,
    },
}

_PLACEHOLDER = re.compile(r"\$(\d+)")


@dataclass
class Script:
    """One pgbench script: its commands, the ``-D`` constants they use, its weight."""

    name: str
    weight: int
    commands: list[str] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)
    description: str = ""
    statements: int = 0
    """Statements rendered so far: numbers their constants apart (the transition script's three
    change-log writes bind different values to the same parameter names)."""

    def text(self) -> str:
        return "\n".join(self.commands) + "\n"


def pg_text(value: Any) -> str:
    """``value`` as PostgreSQL reads it in text form (a parameter sent as text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_element(item) for item in value) + "}"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    escaped = pg_text(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def render(
    script: Script,
    statement: Statement,
    values: Mapping[str, Any],
    dynamic: Mapping[str, str] | None = None,
    gset: str | None = None,
) -> None:
    """Append ``statement`` to ``script``, its ``$n`` rendered for pgbench (see the module)."""
    dynamic = dynamic or {}
    names = statement.names
    script.statements += 1
    prefix = f"{script.name.replace('-', '_')}_{script.statements}"

    def placeholder(match: re.Match[str]) -> str:
        name = names[int(match.group(1)) - 1]
        if name in dynamic:
            return dynamic[name]
        if name in values:
            value = values[name]
        elif name in statement.fixed:
            value = statement.fixed[name]
        else:
            raise KeyError(f"no value for parameter {name!r} of the {script.name} script")
        if value is None:
            return "NULL"
        variable = f"{prefix}_{name}"
        script.defines[variable] = pg_text(value)
        return f":{variable}"

    sql = " ".join(_PLACEHOLDER.sub(placeholder, statement.sql).split())
    script.commands.append(f"{sql} \\gset {gset}" if gset else f"{sql};")


def _pick(table: str, count_variable: str, into: str) -> list[str]:
    return [
        f"\\set pick random(1, :{count_variable})",
        f"SELECT id AS {into} FROM {table} WHERE k = :pick \\gset",  # noqa: S608 - constants
    ]


def _one(expression: str) -> str:
    return f"ARRAY[CAST({expression} AS uuid)]"


_RUN_ID = "CAST(:run_id AS uuid)"
_CALLER = _Caller(ANONYMOUS, "sandbox-pgbench", None, "127.0.0.1")
# The ids of the representative run in constant payloads (audit changes, event data).
_SAMPLE_ID = uuid.UUID(int=1)


def _sample_run(status: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": _SAMPLE_ID, "experiment_id": _SAMPLE_ID, "name": CREATED_NAME, "status": status,
        "tags": ["bench", "gpu"], "params": {"lr": 0.001, "batch": 64, "epochs": 10},
        "participants": [], "git_sha": "0" * 40, "git_branch": None, "git_repository": None,
        "failure_reason": None, "created_by": ANONYMOUS, "created_at": now, "updated_at": now,
        "started_at": None, "finished_at": None, "archived_at": None,
        "last_heartbeat_at": None, "heartbeat_timeout_seconds": None,
        "max_duration_seconds": None, "version": 1,
    }  # fmt: skip


def _per_execution(values: Mapping[str, Any]) -> dict[str, str]:
    """Change-log parameters that must differ per execution: ids, event ids, times."""
    count = len(values["e_event_id"])
    assert count == 1, "the sandbox's changes touch one run each"
    dynamic = {
        "e_event_id": "ARRAY[gen_random_uuid()]",
        "e_occurred_at": "ARRAY[now()]",
        "a_entity_id": _one(":run_id"),
        "e_entity_id": _one(":run_id"),
    }
    if values["h_entity_id"]:
        dynamic["h_entity_id"] = _one(":run_id")
    return dynamic


def _create_commands(script: Script) -> None:
    """The service's create without an Idempotency-Key: the run, then its change log."""
    run = _sample_run("draft")
    script.commands.append("BEGIN;")
    script.commands += _pick(PICK_EXPERIMENTS, "experiment_count", "experiment_id")
    values = {
        **{name: run[name] for name in ("name", "tags", "participants", "git_sha")},
        "params": ref._json_text(run["params"]),
        "git_branch": None, "git_repository": None, "heartbeat_timeout_seconds": None,
        "max_duration_seconds": None, "created_by": ANONYMOUS, **ref._EDIT_ACCESS,
    }  # fmt: skip
    dynamic = {"id": _uuid7("clock_timestamp()"), "experiment_id": "CAST(:experiment_id AS uuid)"}
    render(script, ref.CREATE, values, dynamic, gset="run_")
    changes = {k: {"before": None, "after": v} for k, v in run.items() if v is not None}
    log = ref._change_log(
        _CALLER, "run", [run], action="create", event_type=ref._RUN_CREATED, source="user",
        changes=[changes], details={},
    )  # fmt: skip
    render(script, ref.CHANGE_LOG, log, _per_execution(log))
    script.commands.append("COMMIT;")


def _transition_commands(script: Script, action: Action) -> None:
    """A run's start (which starts its experiment if a draft) or finish, with its change log;
    finish also stops the run's running capture sessions, as the service does."""
    statement, values, previous = (
        (ref.START, ref._START_VALUES, "draft")
        if action is Action.start
        else (ref.FINISH, ref._FINISH_VALUES, "running")
    )
    script.commands.append("BEGIN;")
    if action is Action.start:
        render(script, ref.START_DRAFT_EXPERIMENT, ref._EDIT_ACCESS, {"run_id": _RUN_ID})
    render(script, statement, values, {"id": _RUN_ID})
    run = _sample_run(values["target"])
    log = ref._transition_log(_CALLER, EntityKind.run, [run], action, previous, "user", None)
    render(script, ref.CHANGE_LOG, log, _per_execution(log))
    if action is Action.finish:
        render(script, ref.STOP_CAPTURES, {}, {"run_ids": _one(":run_id")})
    script.commands.append("COMMIT;")


def get_script(weight: int) -> Script:
    script = Script("get", weight, description="`GET /v1/runs/{id}`: the run, if readable")
    script.commands += _pick(PICK_RUNS, "run_count", "run_id")
    render(script, ref.GET, {**ref._READ_ACCESS}, {"id": _RUN_ID})
    return script


def create_script(weight: int) -> Script:
    script = Script(
        "create", weight,
        description="`POST /v1/experiments/{id}/runs` (no Idempotency-Key): one transaction,"
        " the guarded insert then the audit row and `run.created` event",
    )  # fmt: skip
    _create_commands(script)
    return script


def transition_script(weight: int) -> Script:
    script = Script(
        "transition", weight,
        description="a run's life: create, `POST …/start`, `POST …/finish` (three"
        " transactions per script run, each as the service runs it)",
    )  # fmt: skip
    _create_commands(script)
    _transition_commands(script, Action.start)
    _transition_commands(script, Action.finish)
    return script


def resolve_query(spec: Mapping[str, Any], experiment: str, today: datetime) -> dict[str, Any]:
    """``spec`` (a :data:`LIST_QUERIES` value) with its placeholders filled in."""

    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(item) for item in value]
        if value == "{experiment}":
            return experiment
        if isinstance(value, str) and value.startswith("{days_ago:"):
            days = int(value.removeprefix("{days_ago:").removesuffix("}"))
            return (today - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value

    return {name: fill(value) for name, value in spec.items()}


def list_statement(query: RunQuery) -> Statement:
    """The first-page statement ``GET /v1/runs`` runs for ``query`` and its values, as
    ``RunRepository.search`` builds them when ``RunService.search`` calls it."""
    ordering = Ordering(query.order_by.value, descending=query.order is SortDirection.desc)
    statement, values = RunRepository.head_page_statement(
        query, LOCAL_PRINCIPAL, ordering, None, query.page_size + 1
    )
    # As the driver executes it: the values in the order of their $n.
    compiled = statement.compile(dialect=ref._DIALECT)
    state = compiled.construct_expanded_state(values)
    return Statement(state.statement, tuple(state.positiontup or ()), dict(state.parameters))


def list_script(name: str, query: dict[str, Any], weight: int) -> Script:
    parsed = RunQuery.model_validate(query)
    script = Script(name, weight, description=f"`GET /v1/runs?{query_string(query)}`")
    render(script, list_statement(parsed), {})
    return script


def query_string(query: Mapping[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode(query, doseq=True)


def scripts(weights: Mapping[str, int], experiment: str, today: datetime) -> list[Script]:
    """The scripts named in ``weights`` (those with a weight above 0)."""
    made: list[Script] = []
    builders = {"get": get_script, "create": create_script, "transition": transition_script}
    for name, weight in weights.items():
        if weight <= 0:
            continue
        if name in builders:
            made.append(builders[name](weight))
        elif name in LIST_QUERIES:
            query = resolve_query(LIST_QUERIES[name], experiment, today)
            made.append(list_script(name, query, weight))
        else:
            raise SystemExit(f"unknown pgbench script {name!r}")
    return made


SCRIPT_NAMES = ("get", "create", "transition", *LIST_QUERIES)
DEFAULT_WEIGHTS = {
    "get": 40, "create": 10, "transition": 5, "list": 10, "list-status-tag-window": 15,
    "list-experiment-status": 10, "list-name-prefix": 5, "list-started-window": 5,
}  # fmt: skip
