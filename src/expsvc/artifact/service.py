"""Artifact links of runs, kept as the Artifact Service reports them.

Events may arrive late or out of order: each link remembers the time of the last event applied
to it (``reported_at``) and refuses an older one (``stale-event``). Every change writes an
audit row and a ``run.artifact_linked`` / ``run.artifact_updated`` event in its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.artifact.repository import ArtifactRepository
from expsvc.artifact.schemas import (
    DATA_MODELS,
    ArtifactEventData,
    ArtifactEventType,
    ArtifactLinkedData,
    ArtifactPage,
    ArtifactQuery,
    ArtifactRead,
    ArtifactStatus,
    ArtifactStatusChangedData,
    ModelApprovedData,
)
from expsvc.audit.service import AuditService
from expsvc.auth.principal import Principal
from expsvc.changes import field_changes
from expsvc.context import ActionContext
from expsvc.errors import Conflict, NotFound, ProblemError
from expsvc.event.catalogue import RUN_ARTIFACT_EVENTS
from expsvc.event.recorder import EventRecorder, entity_snapshot
from expsvc.ids import new_id
from expsvc.integration.processor import (
    Claimed,
    InvalidEvent,
    UnknownEventType,
    validation_detail,
)
from expsvc.integration.schemas import Outcome
from expsvc.lifecycle import EntityKind, Status
from expsvc.pagination import Ordering, PageRequest
from expsvc.run.repository import RunRepository
from expsvc.run.service import RunNotFound

LINKED_EVENT, UPDATED_EVENT = RUN_ARTIFACT_EVENTS
_OLDEST_FIRST = Ordering("created_at", descending=False)
_COMPARED = ("uri", "kind", "status", "status_reason", "approved_model", "model_ref")


class ArtifactNotFound(NotFound):
    slug, title = "artifact-not-found", "Artifact not linked to the run"


class RunArchived(Conflict):
    slug, title = "run-archived", "Run is archived"


class StaleEvent(Conflict):
    slug, title = "stale-event", "A newer event was already applied"


class ArtifactEventService:
    def __init__(self, session: AsyncSession, context: ActionContext) -> None:
        self.session = session
        self.context = context
        self.artifacts = ArtifactRepository(session)
        self.runs = RunRepository(session)
        self.events = EventRecorder(session)
        self.audit = AuditService(session)

    async def apply(self, events: Sequence[Claimed]) -> list[Outcome]:
        """Each event in the order sent, each alone: a rejected one changes nothing."""
        return [await self._apply_one(item) for item in events]

    async def _apply_one(self, item: Claimed) -> Outcome:
        try:
            kind, data = _parse(item)
            async with self.session.begin_nested():
                return await self._dispatch(kind, data, item.event.timestamp)
        except ProblemError as error:
            return Outcome.rejected(error.slug, error.detail)

    async def _dispatch(
        self, kind: ArtifactEventType, data: ArtifactEventData, at: datetime
    ) -> Outcome:
        # The run's row lock serialises every artifact change of the run (one approved model).
        run = await self.runs.lock(data.run_id)
        if run is None:
            raise RunNotFound(data.run_id)
        if run.status == Status.archived:
            raise RunArchived(f"run {run.id} is archived; its artifacts can no longer change")
        if isinstance(data, ArtifactLinkedData):
            return await self._linked(run, data, at)
        link = await self.artifacts.find(run.id, data.artifact_id)
        if link is None:
            raise ArtifactNotFound(
                f"artifact {data.artifact_id!r} is not linked to run {run.id}",
                artifact_id=data.artifact_id,
            )
        _check_fresh(link, at)
        if isinstance(data, ArtifactStatusChangedData):
            values = _status_values(data.status, data.reason)
        else:
            assert isinstance(data, ModelApprovedData)
            await self._unapprove_others(run, link)
            values = {"status": "approved", "approved_model": True, "model_ref": data.model_ref}
        return await self._update(run, link, {**values, "reported_at": at})

    async def _linked(self, run: Row[Any], data: ArtifactLinkedData, at: datetime) -> Outcome:
        values = {
            "uri": data.uri,
            "kind": data.kind,
            **_status_values(data.status, data.reason),
            "reported_at": at,
        }
        link = await self.artifacts.find(run.id, data.artifact_id)
        if link is not None:
            _check_fresh(link, at)
            return await self._update(run, link, values)
        row = await self.artifacts.insert(
            {"id": new_id(), "run_id": run.id, "artifact_id": data.artifact_id, **values}
        )
        artifact = entity_snapshot(ArtifactRead.model_validate(row))
        await self.events.record(
            LINKED_EVENT, EntityKind.run, [run], self.context, artifact=artifact
        )
        changes = {"artifact": {"before": None, "after": artifact}}
        await self.audit.record("link_artifact", EntityKind.run, [(run.id, changes)], self.context)
        return Outcome.applied()

    async def _unapprove_others(self, run: Row[Any], link: Row[Any]) -> None:
        current = await self.artifacts.approved_model(run.id)
        if current is not None and current.id != link.id:
            await self._update(run, current, {"approved_model": False, "model_ref": None})

    async def _update(self, run: Row[Any], link: Row[Any], values: dict[str, Any]) -> Outcome:
        after = await self.artifacts.update(link.id, values)
        assert after is not None  # locked by find()
        old = entity_snapshot(ArtifactRead.model_validate(link))
        new = entity_snapshot(ArtifactRead.model_validate(after))
        changes = field_changes(old, new, _COMPARED)
        if not changes:
            return Outcome.applied("no change")
        await self.events.record(
            UPDATED_EVENT, EntityKind.run, [run], self.context,
            artifact=new, changed_fields=sorted(changes),
        )  # fmt: skip
        audit = {"artifact": {"before": old, "after": new}}
        await self.audit.record("update_artifact", EntityKind.run, [(run.id, audit)], self.context)
        return Outcome.applied()


class ArtifactService:
    def __init__(self, session: AsyncSession) -> None:
        self.artifacts = ArtifactRepository(session)
        self.runs = RunRepository(session)

    async def search(
        self, principal: Principal, run_id: uuid.UUID, query: ArtifactQuery
    ) -> ArtifactPage:
        """The run's artifacts, oldest link first (created_at, then id), keyset-paginated, if
        ``principal`` may read the run (404 alike otherwise)."""
        if await self.runs.get_readable(run_id, principal) is None:
            raise RunNotFound(run_id)
        page = PageRequest(
            ordering=_OLDEST_FIRST,
            filters={"run_id": str(run_id), **query.filters()},
            page_size=query.page_size,
            page_token=query.page_token,
        )
        rows = await self.artifacts.search(
            run_id, query, page.ordering, page.after(), query.page_size + 1
        )
        return ArtifactPage(
            items=[ArtifactRead.model_validate(row) for row in rows[: query.page_size]],
            next_page_token=page.next_token(rows),
        )


def _parse(item: Claimed) -> tuple[ArtifactEventType, ArtifactEventData]:
    try:
        kind = ArtifactEventType(item.event.type)
    except ValueError:
        known = ", ".join(t.value for t in ArtifactEventType)
        raise UnknownEventType(f"expected one of {known}") from None
    try:
        return kind, DATA_MODELS[kind].model_validate(item.event.data)
    except ValidationError as error:
        raise InvalidEvent(validation_detail(error)) from None


def _status_values(status: ArtifactStatus, reason: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status.value, "status_reason": reason}
    if status is not ArtifactStatus.approved:  # only an approved artifact is a run's model
        values |= {"approved_model": False, "model_ref": None}
    return values


def _check_fresh(link: Row[Any], at: datetime) -> None:
    if at < link.reported_at:
        raise StaleEvent(
            f"artifact {link.artifact_id!r} already reflects an event of {link.reported_at}",
            reported_at=link.reported_at.isoformat(),
        )
