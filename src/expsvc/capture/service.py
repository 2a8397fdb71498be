"""Capture session rules: creation in open runs, starting only while the run runs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.auth.access import Role
from expsvc.auth.principal import Principal
from expsvc.capture.repository import CaptureRepository
from expsvc.capture.schemas import (
    CaptureCreate,
    CaptureQuery,
    CaptureRead,
    CaptureUpdate,
    RunCaptureQuery,
)
from expsvc.changes import ChangeRecorder
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import Conflict, NotFound, PreconditionFailed
from expsvc.grant.service import GrantService
from expsvc.ids import new_id
from expsvc.lifecycle import TERMINAL, Action, EntityKind, Status, plan_transition
from expsvc.pagination import Ordering, PageRequest, RowPage
from expsvc.run.repository import RunRepository
from expsvc.run.service import RunNotFound
from expsvc.transitions import apply_transition, apply_update

_KIND = EntityKind.capture
_NEWEST_FIRST = Ordering("created_at", descending=True)
_EDITABLE = frozenset({Status.draft, Status.running})


class CaptureNotFound(NotFound):
    slug, title = "capture-not-found", "Capture session not found"

    def __init__(self, capture_id: uuid.UUID) -> None:
        super().__init__(f"capture session {capture_id} does not exist", capture_id=capture_id)


class CaptureSessionIdTaken(Conflict):
    slug, title = "capture-session-id-taken", "capture_session_id already in use"

    def __init__(self, capture_session_id: str) -> None:
        super().__init__(
            f"capture_session_id {capture_session_id!r} belongs to another capture session",
            capture_session_id=capture_session_id,
        )


class RunClosed(Conflict):
    slug, title = "run-closed", "Run does not accept capture sessions"


class RunNotRunning(Conflict):
    slug, title = "run-not-running", "Run is not running"


class CaptureClosed(Conflict):
    slug, title = "capture-closed", "Capture session can no longer be changed"


class CaptureService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.captures = CaptureRepository(session)
        self.runs = RunRepository(session)
        self.changes = ChangeRecorder(session)

    async def create(
        self, context: ActionContext, run_id: uuid.UUID, data: CaptureCreate
    ) -> CaptureRead:
        """A draft session of a run that is not finished, failed or archived."""
        # A run finishing concurrently waits for us, then sees this session. FOR SHARE lets
        # sessions without sensors be created side by side; one with sensors changes the run's
        # (runs.sensors, a trigger: ADR 0032), so it takes the run's update lock before the
        # trigger does: two creates holding FOR SHARE would deadlock on the upgrade.
        run = await self.runs.lock_for_change(
            run_id, context.principal, Role.editor, shared=not data.sensors
        )
        if run is None:
            await GrantService(self.session).refuse(
                self.runs, run_id, context.principal, Role.editor, RunNotFound
            )
        if run.status in TERMINAL:
            raise RunClosed(
                f"run {run_id} is {run.status}; capture sessions can be created only in draft "
                "or running runs",
                run_id=run_id,
                run_status=run.status,
            )
        capture_id = new_id()
        capture_session_id = data.capture_session_id or str(capture_id)
        # The lookup answers the common case; the unique constraint (ON CONFLICT) the race.
        if await self.captures.id_taken(capture_session_id):
            raise CaptureSessionIdTaken(capture_session_id)
        row = await self.captures.insert_unless_taken(
            {
                "id": capture_id,
                "run_id": run_id,
                "capture_session_id": capture_session_id,
                "sensors": data.sensors,
                "created_by": context.actor,
            }
        )
        if row is None:
            raise CaptureSessionIdTaken(capture_session_id)
        await self.changes.created(_KIND, [row], context)
        return CaptureRead.model_validate(row)

    async def get(self, principal: Principal, capture_id: uuid.UUID) -> Row[Any]:
        """The session's row (answered as a :class:`CaptureRead`) if ``principal`` may read
        its experiment; 404 alike when it may not and when it does not exist."""
        row = await self.captures.get_readable(capture_id, principal)
        if row is None:
            raise CaptureNotFound(capture_id)
        return row

    async def search(self, principal: Principal, query: CaptureQuery) -> RowPage:
        """Newest first (created_at, then id), keyset-paginated (answered as a CapturePage)."""
        page = PageRequest(
            ordering=_NEWEST_FIRST,
            filters=query.filters(),
            page_size=query.page_size,
            page_token=query.page_token,
        )
        rows = await self.captures.search(
            query, principal, page.ordering, page.after(), query.page_size + 1
        )
        return RowPage(rows[: query.page_size], page.next_token(rows))

    async def search_in_run(
        self, principal: Principal, run_id: uuid.UUID, query: RunCaptureQuery
    ) -> RowPage:
        if await self.runs.get_readable(run_id, principal) is None:
            raise RunNotFound(run_id)
        return await self.search(principal, CaptureQuery(run_id=run_id, **query.model_dump()))

    async def update(
        self,
        context: ActionContext,
        capture_id: uuid.UUID,
        data: CaptureUpdate,
        expected: ExpectedVersions,
    ) -> CaptureRead:
        """Change the fields present while the session is draft or running."""
        if data.sensors is not None:
            await self.lock_run_of(capture_id)
        row = await apply_update(
            self.session, self.captures, _KIND, capture_id, data.model_dump(exclude_unset=True),
            context, expected, CaptureNotFound, _EDITABLE, _closed,
        )  # fmt: skip
        return CaptureRead.model_validate(row)

    async def lock_run_of(self, capture_id: uuid.UUID) -> None:
        """Lock the session's run for update before the session, when its sensors change.

        The trigger that keeps ``runs.sensors`` (ADR 0032) locks the run after the session; a
        run finishing locks the run, then its sessions. Taking the run first keeps one order.
        """
        run_id = await self.captures.run_of(capture_id)
        if run_id is not None:
            await self.runs.lock(run_id)

    async def start(
        self,
        context: ActionContext,
        capture_id: uuid.UUID,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> CaptureRead:
        """draft → running, only while the session's run is running."""

        def refuse_unless_run_running(
            run_id: uuid.UUID | None, run_status: str | None, status: Status, version: int
        ) -> None:
            if run_status == Status.running:
                return
            # A stale version or a session that cannot start at all is the better answer.
            if not expected.accepts(version):
                raise PreconditionFailed(
                    f"{_KIND} {capture_id} is at version {version}", current_version=version
                )
            plan_transition(_KIND, Action.start, status)
            raise RunNotRunning(
                f"run {run_id} is {run_status}; capture sessions start only while it is running",
                run_id=run_id,
                run_status=run_status,
            )

        # The run is locked FOR SHARE before the session (the engine's parent guard; the order
        # a run's finish takes them): a run finishing concurrently either waits for this start
        # and then stops the session, or finishes first and this start sees it.
        done = await apply_transition(
            self.session, _KIND, capture_id, Action.start, context, expected,
            CaptureNotFound, reason, refuse_unless_run_running,
        )  # fmt: skip
        return CaptureRead.model_validate(done.row)

    async def transition(
        self,
        context: ActionContext,
        capture_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> CaptureRead:
        """Apply ``action``; stop, fail (reason required) and archive follow the table alone."""
        if action is Action.start:
            return await self.start(context, capture_id, expected, reason)
        return await self._apply(context, capture_id, action, expected, reason)

    async def _apply(
        self,
        context: ActionContext,
        capture_id: uuid.UUID,
        action: Action,
        expected: ExpectedVersions,
        reason: str | None,
    ) -> CaptureRead:
        done = await apply_transition(
            self.session, _KIND, capture_id, action, context, expected, CaptureNotFound, reason
        )
        return CaptureRead.model_validate(done.row)


def _closed(capture: Row[Any]) -> CaptureClosed:
    return CaptureClosed(
        f"capture session {capture.id} is {capture.status}; only draft or running sessions "
        "can be changed",
        current_status=capture.status,
    )
