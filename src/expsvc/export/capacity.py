"""How many exports a process serves at once, and how long one may wait on a stalled reader.

An export holds a pooled connection and an open snapshot for as long as its client reads
(:class:`expsvc.routing.SnapshotRoute`). Without a cap a few slow or stalled clients would take
the whole pool; so a process serves at most ``EXPSVC_EXPORT_MAX_CONCURRENT`` exports and
refuses the next at once, before it takes a connection, and an export whose client does not
take its next chunk within ``EXPSVC_EXPORT_STALL_SECONDS`` is abandoned (ADR 0016).
"""

from __future__ import annotations

from expsvc.errors import ServiceUnavailable


class ExportCapacityExhausted(ServiceUnavailable):
    slug, title = "export-capacity", "Too many exports under way"


class ExportSlots:
    """A counter of the exports under way in this process (one event loop: no lock needed)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def try_take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken -= 1
