"""Randomness for timing and spreading load: retry back-off, loop intervals, which sink a relay
takes.

One generator of the service's own, never the ``random`` module's global one. The background
loops draw from it all the time, in the lifespan's thread; drawing from the global generator
would change its state under any other code of the process that relies on it (Hypothesis, in
the schemathesis test, fails an example when the global state moves while it draws one).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_generator = random.Random()


def spread(seconds: float, fraction: float) -> float:
    """``seconds`` give or take ``fraction`` of it, so processes started together drift apart."""
    return seconds * _generator.uniform(1 - fraction, 1 + fraction)


def between(low: float, high: float) -> float:
    """A uniformly drawn value in [low, high]."""
    return _generator.uniform(low, high)


def backoff(failures: int, *, base: float, cap: float = 30.0) -> float:
    """Seconds to wait after ``failures`` consecutive failures: doubling from ``base``, capped
    at ``cap``, then scaled by 0.5 to 1.0 ("equal jitter") so failing processes do not retry in
    step."""
    return min(cap, base * 2.0**failures) * _generator.uniform(0.5, 1.0)


def choice(items: Sequence[T]) -> T:
    return _generator.choice(items)


def shuffled(items: Sequence[T]) -> list[T]:
    return _generator.sample(list(items), len(items))
