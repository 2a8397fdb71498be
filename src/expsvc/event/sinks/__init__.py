"""Where published events go. Each sink has its own cursor, so a slow one delays only itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession


class Sink(Protocol):
    """Publishes a batch of CloudEvents envelopes, in order, or raises."""

    name: str

    async def publish(self, events: Sequence[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class DatabaseSink(Protocol):
    """A sink whose output is rows in our own database (e.g. webhook deliveries).

    The relay hands it its transaction: the rows and the cursor advance commit together, so
    each event is written exactly once.
    """

    name: str

    async def publish_in(self, session: AsyncSession, events: Sequence[dict[str, Any]]) -> None: ...

    def quiet_for(self) -> float:
        """Seconds the relay may leave this sink alone: it knows its output would be empty (no
        webhook endpoints) and that catching up later writes the same rows."""
        ...

    async def close(self) -> None: ...


AnySink = Sink | DatabaseSink
