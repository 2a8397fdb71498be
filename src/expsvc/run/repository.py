from __future__ import annotations

import functools
import uuid
from collections import namedtuple
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Row,
    Select,
    String,
    TextualSelect,
    bindparam,
    column,
    func,
    select,
    text,
)

from expsvc.auth.access import Role, access_parameters, may, may_sql
from expsvc.auth.principal import Principal
from expsvc.driver import fetch_rows
from expsvc.models import runs
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository, json_text
from expsvc.run.schemas import RunFilter


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Columns a client sets at creation; the rest are the server's (defaults in the table).
CREATE_COLUMNS = (
    "id",
    "experiment_id",
    "name",
    "tags",
    "params",
    "participants",
    "git_sha",
    "git_branch",
    "git_repository",
    "heartbeat_timeout_seconds",
    "max_duration_seconds",
    "created_by",
)
RunRow = namedtuple("RunRow", [column.name for column in runs.c])  # type: ignore[misc]


def _create_in_open_experiment() -> TextualSelect:
    values = ", ".join(
        {
            "experiment_id": "experiment.id",
            "tags": "CAST(:tags AS text[])",
            "participants": "CAST(:participants AS text[])",
            "params": "CAST(:params AS jsonb)",
        }.get(name, f":{name}")
        for name in CREATE_COLUMNS
    )
    returned = ", ".join(f"created.{column.name}" for column in runs.c)
    # FOR SHARE: an experiment finishing concurrently waits for us, then sees this run.
    statement = text(
        f"""
        WITH experiment AS (
            SELECT id, status, ({may_sql("experiments", "experiments")}) AS allowed
            FROM experiments WHERE id = :experiment_id FOR SHARE
        ), created AS (
            INSERT INTO runs ({", ".join(CREATE_COLUMNS)})
            SELECT {values} FROM experiment
            WHERE experiment.status IN ('draft', 'running') AND experiment.allowed
            RETURNING *
        )
        SELECT experiment.status AS experiment_status, experiment.allowed, {returned}
        FROM experiment LEFT JOIN created ON true
        """  # noqa: S608 (built at import from the table's column names)
    )
    return statement.columns(
        column("experiment_status", String()), column("allowed", Boolean()), *runs.c
    )


_CREATE_IN_OPEN_EXPERIMENT = _create_in_open_experiment()


class RunRepository(EntityRepository):
    table = runs

    async def create_in_open_experiment(
        self, values: dict[str, Any], principal: Principal
    ) -> tuple[str | None, bool, RunRow | None]:
        """Insert the run if its experiment is draft or running and ``principal`` may edit
        it, in one statement: (the experiment's status or None if it does not exist, whether
        the principal may edit it, the new run or None)."""
        parameters = {
            **values,
            "params": json_text(values["params"]),
            **access_parameters(principal, Role.editor),
        }
        rows = await fetch_rows(self.session, _CREATE_IN_OPEN_EXPERIMENT, parameters)
        row = rows[0] if rows else None
        if row is None:
            return None, False, None
        if row.id is None:
            return row.experiment_status, row.allowed, None
        return row.experiment_status, row.allowed, RunRow(*row[2:])

    @classmethod
    def sort_column(cls, name: str) -> ColumnElement[Any]:
        # Names sort by code point (COLLATE "C") so the ix_runs_name_c_id index serves them.
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column

    async def search(
        self,
        where: RunFilter,
        principal: Principal,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        """A page of the runs ``principal`` may read among those ``where`` selects."""
        names, values = _filter_values(where)
        after_null = None if after is None else after[0] is None
        statement = _search_statement(names, ordering, after_null)
        values.update(access_parameters(principal))
        # The statement is one of _search_statement's, built once per filter shape.
        return await self.fetch_built_page(statement, after, limit, values, prebuilt=True)

    async def matching_ids(
        self, where: RunFilter, limit: int, principal: Principal
    ) -> list[uuid.UUID]:
        """Ids of the runs ``where`` selects that ``principal`` may edit, in id order, at most
        ``limit``."""
        query, values = _selected(where, principal, Role.editor)
        query = query.with_only_columns(runs.c.id).order_by(runs.c.id).limit(limit)
        return list((await self.session.execute(query, values)).scalars())

    async def export(
        self,
        where: RunFilter,
        principal: Principal,
        columns: Sequence[str],
        after: uuid.UUID | None,
        batch_size: int,
    ) -> AsyncGenerator[Sequence[Row[Any]]]:
        """``columns`` of the runs ``principal`` may read among those ``where`` selects, past
        ``after`` in id order, in batches from a server-side cursor (see
        :meth:`~expsvc.repository.EntityRepository.stream_batches`)."""
        query, values = _selected(where, principal, Role.viewer)
        statement = self.export_statement(query, columns, after)
        return await self.stream_batches(statement, values, batch_size)

    async def running_ids(self, experiment_id: uuid.UUID, limit: int) -> list[uuid.UUID]:
        query = (
            select(runs.c.id)
            .where(runs.c.experiment_id == experiment_id, runs.c.status == "running")
            .order_by(runs.c.id)
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def count_in_experiment(self, experiment_id: uuid.UUID) -> int:
        query = select(func.count()).where(runs.c.experiment_id == experiment_id)
        return int((await self.session.execute(query)).scalar_one())


# Each filter once, its values bound at execution: a list's statement depends only on which
# filters it uses, its order and where its page starts, so it is built once per such shape
# (building and hashing a Select per request was about a fifth of a page's CPU).
_FILTERS: dict[str, ColumnElement[bool]] = {
    "experiment_id": runs.c.experiment_id == bindparam("experiment_id"),
    "status": runs.c.status.in_(bindparam("status", expanding=True)),
    "tag": runs.c.tags.contains(bindparam("tag", type_=runs.c.tags.type)),
    "name_prefix": runs.c.name.collate("C").like(bindparam("name_pattern"), escape="\\"),
    **{
        f"{field}_{side}": (
            runs.c[f"{field}_at"] >= bindparam(f"{field}_after")
            if side == "after"
            else runs.c[f"{field}_at"] < bindparam(f"{field}_before")
        )
        for field in ("created", "started", "finished")
        for side in ("after", "before")
    },
}


def _filter_values(where: RunFilter) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters ``where`` uses (in :data:`_FILTERS` order) and their bound values."""
    values: dict[str, Any] = {}
    if where.experiment_id is not None:
        values["experiment_id"] = where.experiment_id
    if where.status:
        values["status"] = [status.value for status in where.status]
    if where.tag:
        values["tag"] = sorted(set(where.tag))
    if where.name_prefix is not None:
        values["name_pattern"] = _escape_like(where.name_prefix) + "%"
    for field in ("created", "started", "finished"):
        for side in ("after", "before"):
            if (value := getattr(where, f"{field}_{side}")) is not None:
                values[f"{field}_{side}"] = value
    names = tuple(
        name for name in _FILTERS if (name if name != "name_prefix" else "name_pattern") in values
    )
    return names, values


def _selected(
    where: RunFilter, principal: Principal, needed: Role
) -> tuple[Select[Any], dict[str, Any]]:
    """The runs ``where`` selects on which ``principal`` holds ``needed``, and the values to
    bind."""
    names, values = _filter_values(where)
    values.update(access_parameters(principal, needed))
    query = select(runs).where(*(_FILTERS[name] for name in names), may(runs.c.experiment_id))
    return query, values


@functools.lru_cache(maxsize=512)
def _search_statement(
    names: tuple[str, ...], ordering: Ordering, after_null: bool | None
) -> Select[Any]:
    query = select(runs).where(*(_FILTERS[name] for name in names), may(runs.c.experiment_id))
    return RunRepository.page_statement(query, ordering, after_null)
