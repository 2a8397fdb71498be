"""Telemetry Ingest's status API, as the reconciliation reads it (docs/integrations.md).

``GET {EXPSVC_TELEMETRY_INGEST_URL}/v1/capture-sessions?capture_session_id=a&capture_session_id=b``
(at most :data:`MAX_IDS_PER_REQUEST` ids) answers ``{"sessions": [{"capture_session_id",
"status", "last_data_at", "stopped_at"}]}``, leaving out the ids it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from types import TracebackType

import httpx
from pydantic import AwareDatetime, ValidationError

from expsvc import __version__
from expsvc.integration.processor import validation_detail as validation_error_summary
from expsvc.integration.schemas import InboundModel
from expsvc.settings import Settings

MAX_IDS_PER_REQUEST = 100
SESSIONS_PATH = "/v1/capture-sessions"


class IngestStatus(StrEnum):
    running = "running"
    stopped = "stopped"


class IngestSession(InboundModel):
    capture_session_id: str
    status: IngestStatus | str
    last_data_at: AwareDatetime | None = None
    stopped_at: AwareDatetime | None = None


class IngestSessions(InboundModel):
    sessions: list[IngestSession]


class IngestUnavailable(Exception):
    """Telemetry Ingest did not answer, or not as agreed; the message says how."""


class IngestClient:
    """One reconciliation pass's connection to Telemetry Ingest (use as ``async with``)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.telemetry_ingest_url is not None
        headers = {"Accept": "application/json", "User-Agent": f"expsvc/{__version__}"}
        if settings.telemetry_ingest_token is not None:
            token = settings.telemetry_ingest_token.get_secret_value()
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=settings.telemetry_ingest_url.rstrip("/"),
            headers=headers,
            timeout=settings.telemetry_ingest_timeout_seconds,
            follow_redirects=False,
        )

    async def __aenter__(self) -> IngestClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def sessions(self, capture_session_ids: Sequence[str]) -> dict[str, IngestSession]:
        """Ingest's view of these sessions (at most 100), by id; the unknown ones are absent."""
        assert len(capture_session_ids) <= MAX_IDS_PER_REQUEST
        params = {"capture_session_id": list(capture_session_ids)}
        try:
            response = await self._http.get(SESSIONS_PATH, params=params)
        except httpx.HTTPError as error:
            raise IngestUnavailable(f"{type(error).__name__}: {error}".rstrip(": ")) from None
        if response.status_code != 200:
            raise IngestUnavailable(f"GET {SESSIONS_PATH} answered {response.status_code}")
        try:
            body = IngestSessions.model_validate_json(response.content)
        except ValidationError as error:
            detail = validation_error_summary(error)
            raise IngestUnavailable(
                f"GET {SESSIONS_PATH} answered an unexpected body: {detail}"
            ) from None
        asked = set(capture_session_ids)
        return {s.capture_session_id: s for s in body.sessions if s.capture_session_id in asked}
