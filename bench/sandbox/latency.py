"""Latency percentiles, over a whole run and in windows of time (for the plots)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

# A window holds about this many samples where the rate allows (a p99 of ten samples is
# their maximum), and a run is cut into at least MIN_WINDOWS windows.
SAMPLES_PER_WINDOW = 100
MIN_WINDOWS = 10


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ordered, non-empty sequence."""
    rank = max(1, math.ceil(len(ordered) * fraction))
    return ordered[rank - 1]


def summarise(latencies: Sequence[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1],
    }


def window_seconds(samples: int, duration: float) -> int:
    """Whole seconds per window: enough for :data:`SAMPLES_PER_WINDOW` samples at the
    series' mean rate, but at least :data:`MIN_WINDOWS` windows in ``duration``."""
    if samples == 0 or duration <= 0:
        return 1
    wanted = math.ceil(SAMPLES_PER_WINDOW * duration / samples)
    return max(1, min(wanted, math.floor(duration / MIN_WINDOWS)))


def over_time(
    samples: Mapping[str, Sequence[tuple[float, float]]],
) -> dict[str, dict[str, object]]:
    """Per name: the window (s) and, per window, p50/p95/p99 of the samples (seconds since
    the start, latency ms) whose time falls in it; ``t`` is the window's start."""
    times = [t for series in samples.values() for t, _ in series]
    duration = max(times) - min(times) if times else 0.0
    result: dict[str, dict[str, object]] = {}
    for name, series in samples.items():
        width = window_seconds(len(series), duration)
        windows: dict[int, list[float]] = defaultdict(list)
        for t, latency in series:
            windows[int(t // width) * width].append(latency)
        points = [{"t": t, **summarise(windows[t])} for t in sorted(windows)]
        result[name] = {"window_s": width, "points": points}
    return result
