"""Where published events go. Each sink has its own cursor, so a slow one delays only itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Sink(Protocol):
    """Publishes a batch of CloudEvents envelopes, in order, or raises."""

    name: str

    async def publish(self, events: Sequence[dict[str, Any]]) -> None: ...

    async def close(self) -> None: ...
