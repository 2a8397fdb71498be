from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    TextualSelect,
    column,
    func,
    literal,
    select,
    text,
)

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
            SELECT id, status FROM experiments WHERE id = :experiment_id FOR SHARE
        ), created AS (
            INSERT INTO runs ({", ".join(CREATE_COLUMNS)})
            SELECT {values} FROM experiment WHERE experiment.status IN ('draft', 'running')
            RETURNING *
        )
        SELECT experiment.status AS experiment_status, {returned}
        FROM experiment LEFT JOIN created ON true
        """  # noqa: S608 (built at import from the table's column names)
    )
    return statement.columns(column("experiment_status", String()), *runs.c)


_CREATE_IN_OPEN_EXPERIMENT = _create_in_open_experiment()


class RunRepository(EntityRepository):
    table = runs

    async def create_in_open_experiment(
        self, values: dict[str, Any]
    ) -> tuple[str | None, RunRow | None]:
        """Insert the run if its experiment is draft or running, in one statement: (the
        experiment's status or None if it does not exist, the new run or None)."""
        parameters = {**values, "params": json_text(values["params"])}
        row = (await self.session.execute(_CREATE_IN_OPEN_EXPERIMENT, parameters)).one_or_none()
        if row is None:
            return None, None
        if row.id is None:
            return row.experiment_status, None
        return row.experiment_status, RunRow(*row[1:])

    def sort_column(self, name: str) -> ColumnElement[Any]:
        # Names sort by code point (COLLATE "C") so the ix_runs_name_c_id index serves them.
        column = super().sort_column(name)
        return column.collate("C") if name == "name" else column

    async def search(
        self,
        where: RunFilter,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        return await self.fetch_page(_filtered(select(runs), where), ordering, after, limit)

    async def matching_ids(self, where: RunFilter, limit: int) -> list[uuid.UUID]:
        """Ids of the runs ``where`` selects, in id order, at most ``limit``."""
        query = _filtered(select(runs.c.id), where).order_by(runs.c.id).limit(limit)
        return list((await self.session.execute(query)).scalars())

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


def _filtered(query: Select[Any], where: RunFilter) -> Select[Any]:
    if where.experiment_id is not None:
        query = query.where(runs.c.experiment_id == where.experiment_id)
    if where.status:
        query = query.where(runs.c.status.in_([s.value for s in where.status]))
    if where.tag:
        query = query.where(runs.c.tags.contains(sorted(set(where.tag))))
    if where.name_prefix is not None:
        pattern = literal(_escape_like(where.name_prefix) + "%")
        query = query.where(runs.c.name.collate("C").like(pattern, escape="\\"))
    for field in ("created", "started", "finished"):
        column = runs.c[f"{field}_at"]
        low, high = getattr(where, f"{field}_after"), getattr(where, f"{field}_before")
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column < high)
    return query
