"""The run card: the run, its capture sessions, sensors and artifacts from our database, and its
metric aggregates from the Metrics Service — fetched at the same time, and never allowed to
fail or slow the card beyond the Metrics timeout."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.artifact.schemas import ArtifactRead
from expsvc.capture.schemas import CaptureRead
from expsvc.card.metrics_client import MetricsResult, MetricsServiceClient
from expsvc.card.repository import CardRepository
from expsvc.card.schemas import CardPart, RunCard
from expsvc.context import ActionContext
from expsvc.run.repository import RunRepository
from expsvc.run.schemas import RunRead
from expsvc.run.service import RunNotFound

MAX_CAPTURES = 100
MAX_SENSORS = 1000
MAX_ARTIFACTS = 100


class CardService:
    def __init__(self, session: AsyncSession, metrics: MetricsServiceClient | None) -> None:
        self.runs = RunRepository(session)
        self.card = CardRepository(session)
        self.metrics = metrics

    async def get(self, context: ActionContext, run_id: uuid.UUID) -> RunCard:
        """The run's card, if the caller may read the run (404 alike otherwise)."""
        row = await self.runs.get_readable(run_id, context.principal)
        if row is None:
            raise RunNotFound(run_id)
        fetch = self._fetch_metrics(context, run_id)
        try:
            captures = await self.card.captures(run_id, MAX_CAPTURES + 1)
            sensors = await self.card.sensors(run_id, MAX_SENSORS + 1)
            artifacts = await self.card.artifacts(run_id, MAX_ARTIFACTS + 1)
        except BaseException:
            if fetch is not None:
                fetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fetch
            raise
        metrics = None if fetch is None else await fetch
        truncated = [
            part
            for part, items, limit in (
                (CardPart.captures, captures, MAX_CAPTURES),
                (CardPart.sensors, sensors, MAX_SENSORS),
                (CardPart.artifacts, artifacts, MAX_ARTIFACTS),
            )
            if len(items) > limit
        ]
        return RunCard(
            run=RunRead.model_validate(row),
            captures=[CaptureRead.model_validate(c) for c in captures[:MAX_CAPTURES]],
            sensors=sensors[:MAX_SENSORS],
            artifacts=[ArtifactRead.model_validate(a) for a in artifacts[:MAX_ARTIFACTS]],
            metrics=None if metrics is None else metrics.metrics,
            degraded=[CardPart.metrics] if metrics is not None and metrics.degraded else [],
            truncated=truncated,
        )

    def _fetch_metrics(
        self, context: ActionContext, run_id: uuid.UUID
    ) -> asyncio.Task[MetricsResult] | None:
        """Start the Metrics call now, so it overlaps the database reads."""
        if self.metrics is None:
            return None
        return asyncio.create_task(
            self.metrics.aggregates(
                run_id, request_id=context.request_id, traceparent=context.traceparent
            ),
            name=f"metrics-aggregates-{run_id}",
        )
