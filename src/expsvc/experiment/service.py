"""Experiment rules. Raises typed errors; flushes, never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.principal import Principal
from expsvc.concurrency import ExpectedVersions
from expsvc.errors import Conflict, InvalidPageToken, NotFound, PreconditionFailed
from expsvc.experiment.repository import ExperimentFilter, ExperimentRepository
from expsvc.experiment.schemas import (
    ExperimentCreate,
    ExperimentPage,
    ExperimentRead,
    ExperimentUpdate,
)
from expsvc.ids import new_id
from expsvc.lifecycle import Status
from expsvc.pagination import decode_page_token, encode_page_token

_ORDERING = "created_at:desc"


class ExperimentNotFound(NotFound):
    slug, title = "experiment-not-found", "Experiment not found"

    def __init__(self, experiment_id: uuid.UUID) -> None:
        super().__init__(f"experiment {experiment_id} does not exist", experiment_id=experiment_id)


class ExperimentNotDeletable(Conflict):
    slug, title = "experiment-not-deletable", "Experiment cannot be deleted"


class ExperimentService:
    def __init__(self, session: AsyncSession) -> None:
        self.repository = ExperimentRepository(session)

    async def create(self, principal: Principal, data: ExperimentCreate) -> ExperimentRead:
        row = await self.repository.insert(
            {"id": new_id(), "created_by": principal.id, **data.model_dump()}
        )
        return ExperimentRead.model_validate(row)

    async def get(self, experiment_id: uuid.UUID) -> ExperimentRead:
        row = await self.repository.get(experiment_id)
        if row is None:
            raise ExperimentNotFound(experiment_id)
        return ExperimentRead.model_validate(row)

    async def list(
        self,
        statuses: list[Status],
        tags: list[str],
        page_size: int,
        page_token: str | None,
    ) -> ExperimentPage:
        filters: dict[str, Any] = {"status": sorted(statuses), "tag": sorted(set(tags))}
        after = None
        if page_token is not None:
            key = decode_page_token(page_token, _ORDERING, filters)
            after = _parse_key(key)
        rows = await self.repository.list(
            ExperimentFilter(statuses=[s.value for s in statuses], tags=tags),
            after,
            page_size + 1,
        )
        items = [ExperimentRead.model_validate(row) for row in rows[:page_size]]
        next_token = None
        if len(rows) > page_size:
            last = items[-1]
            next_token = encode_page_token(
                _ORDERING, [last.created_at.isoformat(), str(last.id)], filters
            )
        return ExperimentPage(items=items, next_page_token=next_token)

    async def update(
        self,
        experiment_id: uuid.UUID,
        data: ExperimentUpdate,
        expected: ExpectedVersions,
    ) -> ExperimentRead:
        values = data.model_dump(exclude_unset=True)
        row = await self.repository.update(experiment_id, values, expected.versions)
        if row is None:
            await self._raise_missing_or_stale(experiment_id, expected)
            raise PreconditionFailed(f"experiment {experiment_id} changed concurrently")
        return ExperimentRead.model_validate(row)

    async def delete(self, experiment_id: uuid.UUID, expected: ExpectedVersions) -> None:
        if await self.repository.delete_draft(experiment_id, expected.versions):
            return
        current = await self._raise_missing_or_stale(experiment_id, expected)
        raise ExperimentNotDeletable(
            f"only draft experiments can be deleted; this one is {current.status}",
            current_status=current.status,
        )

    async def _raise_missing_or_stale(
        self, experiment_id: uuid.UUID, expected: ExpectedVersions
    ) -> ExperimentRead:
        """After a conditional write matched nothing: say why, or return the row as it is."""
        current = await self.get(experiment_id)
        if not expected.accepts(current.version):
            raise PreconditionFailed(
                f"experiment {experiment_id} is at version {current.version}",
                current_version=current.version,
            )
        return current


def _parse_key(key: list[Any]) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, raw_id = key
        return datetime.fromisoformat(created_at), uuid.UUID(raw_id)
    except (ValueError, TypeError):
        raise InvalidPageToken("page_token is malformed") from None
