#!/usr/bin/env python3
"""Break bench/filters/statements.py's timings down by the slow classes of docs/performance.md.

    python bench/filters/classes.py before.json [after.json ...]

Each file is statements.py's ``--output`` ([[ms, statements run, case], ...]). A case's class
is taken from the first file (the baseline), so every file is compared on the same cases:

- ``sensor``: the case filters by sensor (another line of work);
- ``tag pairs``: two or more of tag, tag_any, tag_none;
- ``NULLs first``: a status filter by started_at or finished_at descending;
- ``experiment_id with others``: experiment_id and at least one other filter;
- ``broad, empty head``: any other case whose baseline took the second statement and over
  20 ms;
- ``rest``: everything else.

Prints p50/p95/max, mean and the count over 20 ms per class and file, then the whole set.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def classify(label: str, ran: int, ms: float) -> str:
    names, _, order = label.partition(" by ")
    parts = set(names.split("+"))
    if "sensor" in parts:
        return "sensor"
    if len(parts & {"tag", "tag_any", "tag_none"}) >= 2:
        return "tag pairs"
    if (
        parts & {"status", "status_several"}
        and order.split()[0]
        in (
            "started_at",
            "finished_at",
        )
        and order.endswith("desc")
    ):
        return "NULLs first"
    if "experiment_id" in parts and len(parts) > 1:
        return "experiment_id with others"
    if ran == 2 and ms > 20:
        return "broad, empty head"
    return "rest"


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(0.95 * (len(values) - 1))]
    return (
        f"{len(values):5d}  {statistics.median(values):7.1f} {p95:7.1f} {values[-1]:7.1f}"
        f"  {statistics.fmean(values):6.1f}  {sum(v > 20 for v in values):5d}"
    )


def main() -> None:
    files = [Path(name) for name in sys.argv[1:]]
    runs = [{label: (ms, ran) for ms, ran, label in json.loads(f.read_text())} for f in files]
    classes = {label: classify(label, ran, ms) for label, (ms, ran) in runs[0].items()}
    print(f"{'class':28} {'file':24} {'cases':>5}  {'p50':>7} {'p95':>7} {'max':>7}  "
          f"{'mean':>6}  {'>20ms':>5}")  # fmt: skip
    for name in [*sorted(set(classes.values())), "all"]:
        for path, run in zip(files, runs, strict=True):
            picked = [ms for label, (ms, _) in run.items() if name in ("all", classes[label])]
            print(f"{name:28} {path.name:24} {summary(picked)}")


if __name__ == "__main__":
    main()
