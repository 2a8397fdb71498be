"""A circuit breaker for calls to a neighbour: stop calling it while it keeps failing.

``closed``: calls go through; ``failure_threshold`` consecutive failures open it. ``open``: no
call is made until ``cooldown`` seconds have passed; then it is ``half_open`` and lets exactly
one trial call through (concurrent callers are refused meanwhile). The trial's success closes
it; its failure opens it for another cooldown. One breaker per process, in memory (asyncio: no
locking needed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.clock = clock
        self.state = BreakerState.closed
        self.failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    def allow(self) -> bool:
        """Whether a call may be made now (a True in half-open state is *the* trial call)."""
        if self.state is BreakerState.closed:
            return True
        if self.state is BreakerState.open:
            if self.clock() - self._opened_at < self.cooldown:
                return False
            self.state = BreakerState.half_open
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def succeeded(self) -> None:
        self.state = BreakerState.closed
        self.failures = 0
        self._trial_in_flight = False

    def failed(self) -> None:
        self._trial_in_flight = False
        self.failures += 1
        if self.state is BreakerState.half_open or self.failures >= self.failure_threshold:
            self.state = BreakerState.open
            self._opened_at = self.clock()

    def abandoned(self) -> None:
        """The call was cancelled before it could tell: let another caller make the trial."""
        self._trial_in_flight = False
