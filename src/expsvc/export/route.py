"""The export routes' class: a snapshot route with a per-process cap and a stall limit."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from expsvc.export.capacity import ExportCapacityExhausted, ExportSlots
from expsvc.routing import SnapshotRoute
from expsvc.settings import Settings


class ExportRoute(SnapshotRoute):
    """Refuses an export beyond ``EXPSVC_EXPORT_MAX_CONCURRENT`` (503 ``export-capacity``)
    before it takes a connection; abandons one whose client stopped reading."""

    def admit(self, request: Request) -> Callable[[], None]:
        slots: ExportSlots = request.app.state.export_slots
        settings: Settings = request.app.state.settings
        if not slots.try_take():
            raise ExportCapacityExhausted(
                f"this server is already serving {slots.limit} exports, the most it serves at "
                "once; retry later",
                headers={"Retry-After": str(settings.retry_after_seconds)},
                max_concurrent=slots.limit,
            )
        return slots.give_back

    def stall_seconds(self, request: Request) -> float | None:
        settings: Settings = request.app.state.settings
        return settings.export_stall_seconds
