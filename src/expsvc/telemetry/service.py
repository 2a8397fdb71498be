"""Applying Telemetry Ingest's events through the same rules as the API.

``capture.started`` and ``capture.stopped`` are the capture session's own transitions (a start
still needs a running run); ``sensor.linked`` adds a sensor as ``PATCH`` would; all three write
their history, audit and outbox rows with source ``integration``. Heartbeats only move
``last_telemetry_at`` (and the run's ``last_heartbeat_at``) forward: they are frequent, carry no
decision, and are applied together, set-based, after the batch's other events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.capture.repository import CaptureRepository
from expsvc.capture.schemas import CaptureUpdate
from expsvc.capture.service import CaptureClosed, CaptureService
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import ProblemError, ValidationFailed
from expsvc.integration.processor import (
    Claimed,
    InvalidEvent,
    UnknownEventType,
    validation_detail,
)
from expsvc.integration.schemas import Outcome, Result
from expsvc.lifecycle import Action, InvalidTransition, Status
from expsvc.schemas import MAX_SENSORS
from expsvc.telemetry.repository import OrphanSighting, TelemetryRepository
from expsvc.telemetry.schemas import (
    DATA_MODELS,
    CaptureEventData,
    CaptureTransitionData,
    HeartbeatData,
    SensorLinkedData,
    TelemetryEventType,
)

_ANY_VERSION = ExpectedVersions(None)
_TARGET = {
    TelemetryEventType.capture_started: Status.running,
    TelemetryEventType.capture_stopped: Status.finished,
}

Parsed = tuple[int, TelemetryEventType, CaptureEventData, Claimed]


class TelemetryEventService:
    def __init__(self, session: AsyncSession, context: ActionContext) -> None:
        self.session = session
        self.context = context
        self.telemetry = TelemetryRepository(session)
        self.captures = CaptureService(session)
        self.capture_rows = CaptureRepository(session)

    async def apply(self, events: Sequence[Claimed]) -> list[Outcome]:
        """One outcome per event; heartbeats last, everything else in the order sent."""
        outcomes: list[Outcome | None] = [None] * len(events)
        parsed: list[Parsed] = []
        for position, item in enumerate(events):
            result = _parse(item)
            if isinstance(result, Outcome):
                outcomes[position] = result
            else:
                parsed.append((position, result[0], result[1], item))
        known = await self.telemetry.sessions({data.capture_session_id for _, _, data, _ in parsed})
        orphans: dict[str, OrphanSighting] = {}
        heartbeats: list[tuple[int, Row[Any], datetime]] = []
        for position, kind, data, item in parsed:
            capture = known.get(data.capture_session_id)
            if capture is None:
                _sighted(orphans, data.capture_session_id, item)
                outcomes[position] = Outcome(
                    Result.orphaned, None, "no capture session has this capture_session_id"
                )
            elif isinstance(data, HeartbeatData):
                heartbeats.append((position, capture, data.last_data_at or item.event.timestamp))
            else:
                outcomes[position] = await self._apply_one(kind, data, capture)
        await self.telemetry.record_orphans(orphans)
        for position, outcome in (await self._heartbeats(heartbeats)).items():
            outcomes[position] = outcome
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    async def _apply_one(
        self, kind: TelemetryEventType, data: CaptureEventData, capture: Row[Any]
    ) -> Outcome:
        try:
            async with self.session.begin_nested():  # a rejected event leaves no trace
                return await self._dispatch(kind, data, capture)
        except InvalidTransition as error:
            target = _TARGET.get(kind)
            if target is not None and error.extensions.get("current_status") == target:
                return Outcome.applied(f"capture session already {target}")
            return Outcome.rejected(error.slug, error.detail)
        except ProblemError as error:
            return Outcome.rejected(error.slug, error.detail)

    async def _dispatch(
        self, kind: TelemetryEventType, data: CaptureEventData, capture: Row[Any]
    ) -> Outcome:
        if kind is TelemetryEventType.capture_started:
            assert isinstance(data, CaptureTransitionData)
            await self.captures.start(self.context, capture.id, _ANY_VERSION, data.reason)
        elif kind is TelemetryEventType.capture_stopped:
            assert isinstance(data, CaptureTransitionData)
            await self.captures.transition(
                self.context, capture.id, Action.stop, _ANY_VERSION, data.reason
            )
        else:
            assert isinstance(data, SensorLinkedData)
            return await self._link_sensor(capture, data.sensor_id)
        return Outcome.applied()

    async def _link_sensor(self, capture: Row[Any], sensor_id: str) -> Outcome:
        # The run before the session: the order of the update below (ADR 0032).
        await self.captures.lock_run_of(capture.id)
        current = await self.capture_rows.lock(capture.id)
        assert current is not None  # sessions are never deleted
        if sensor_id in current.sensors:
            return Outcome.applied("sensor already linked")
        sensors = [*current.sensors, sensor_id]
        if len(sensors) > MAX_SENSORS:
            raise ValidationFailed(f"a capture session carries at most {MAX_SENSORS} sensors")
        update = CaptureUpdate(sensors=sensors)
        await self.captures.update(self.context, capture.id, update, _ANY_VERSION)
        return Outcome.applied()

    async def _heartbeats(
        self, heartbeats: list[tuple[int, Row[Any], datetime]]
    ) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        captures: dict[Any, datetime] = {}
        running_runs: dict[Any, datetime] = {}
        for position, capture, seen in heartbeats:
            if capture.status == Status.archived:
                closed = CaptureClosed("capture session is archived")
                outcomes[position] = Outcome.rejected(closed.slug, closed.detail)
                continue
            captures[capture.id] = max(seen, captures.get(capture.id, seen))
            running_runs[capture.run_id] = max(seen, running_runs.get(capture.run_id, seen))
            outcomes[position] = Outcome.applied()
        # The update skips runs that are not running; a lock on one is harmless.
        await self.telemetry.record_heartbeats(captures, running_runs)
        return outcomes


def _parse(item: Claimed) -> tuple[TelemetryEventType, CaptureEventData] | Outcome:
    try:
        kind = TelemetryEventType(item.event.type)
    except ValueError:
        known = ", ".join(t.value for t in TelemetryEventType)
        return Outcome.rejected(UnknownEventType.slug, f"expected one of {known}")
    try:
        return kind, DATA_MODELS[kind].model_validate(item.event.data)
    except ValidationError as error:
        return Outcome.rejected(InvalidEvent.slug, validation_detail(error))


def _sighted(orphans: dict[str, OrphanSighting], capture_session_id: str, item: Claimed) -> None:
    payload = item.event.model_dump(mode="json")
    sighting = orphans.get(capture_session_id)
    if sighting is None:
        orphans[capture_session_id] = OrphanSighting(1, {item.event.type}, item.event.id, payload)
        return
    sighting.events += 1
    sighting.event_types.add(item.event.type)
    sighting.last_event_id, sighting.last_payload = item.event.id, payload
