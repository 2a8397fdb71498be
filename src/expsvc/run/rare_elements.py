"""Which array condition of a runs list is rare enough to be read alone (ADR 0035).

PostgreSQL ANDs the bitmaps of every indexed condition when it reads a list's matches: with
``sensor=imu-11`` (5,500 runs of 1,000,000) and ``params=optimizer=lion`` (250,000) it builds
both and intersects them. Its cost model prices a bitmap entry far below a heap page, but on a
cached table building the 250,000-entry bitmap takes 15 to 20 ms, three times what reading the
5,500 runs and checking the other conditions on them takes. So when one array condition
(``tags``, ``participants``, ``sensors``) is rare by the table's own statistics, the list reads
its runs alone and filters them: a bound of about 10 ms, whatever the other conditions.

The statistics are ANALYZE's (``pg_stats.most_common_elems`` and their frequencies), read at
most every :data:`STATISTICS_TTL_SECONDS` per process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from expsvc.filtering.sql import Shape

# A condition is rare when the statistics put it on at most this many runs: reading them and
# checking the rest costs about 1 µs a run (docs/performance.md, 2026-12-07).
RARE_ELEMENT_ROWS = 10_000
STATISTICS_TTL_SECONDS = 300.0
ARRAY_COLUMNS = ("tags", "participants", "sensors")
# Fields whose condition singles out few runs on its own (one experiment, a commit, a branch, a
# name), through a btree or trigram index the planner reads better than any rare element: a
# list with one of them is left to the planner (on 1,000,000 runs, reading the sensor's runs
# first made such lists 3 to 15 times slower, docs/performance.md).
SINGLING_OUT_FIELDS = frozenset({"id", "experiment_id", "git_sha", "git_branch", "git_repository",
                                 "name"})  # fmt: skip


@dataclass(frozen=True)
class ColumnElements:
    """ANALYZE's most common elements of an array column and the share of rows holding each;
    an element not among them is on fewer rows than the least common of them."""

    frequencies: Mapping[str, float]
    least: float

    def share(self, element: str) -> float:
        return self.frequencies.get(element, self.least)


@dataclass(frozen=True)
class ElementStatistics:
    rows: float  # the table's estimated row count (pg_class.reltuples; < 0: never analyzed)
    columns: Mapping[str, ColumnElements]

    @classmethod
    def from_rows(cls, rows: Iterable[Any]) -> ElementStatistics:
        """From the rows of the repository's statistics query: (column, elements,
        frequencies, table rows, ...), the column NULL when no array column has statistics."""
        table_rows = -1.0
        columns: dict[str, ColumnElements] = {}
        for column, elements, frequencies, reltuples, *_ in rows:
            table_rows = float(reltuples)
            if column is None or not elements or not frequencies:
                continue
            # pg_stats: one frequency per element, then their minimum, maximum and the
            # frequency of NULL elements.
            shares = dict(zip(elements, frequencies[: len(elements)], strict=True))
            columns[column] = ColumnElements(shares, float(frequencies[len(elements)]))
        return cls(table_rows, columns)

    def estimated_rows(self, column: str, op: str, elements: list[str]) -> float | None:
        """How many runs a condition on ``column`` selects, by the statistics (None: none)."""
        statistics = self.columns.get(column)
        if statistics is None or self.rows <= 0 or not elements:
            return None
        shares = [statistics.share(element) for element in elements]
        share = min(1.0, sum(shares)) if op == "has_any" else min(shares)
        return share * self.rows


def has_array_condition(shape: Shape | None) -> bool:
    """Whether the top-level AND of ``shape`` holds a condition on an array column."""
    return bool(_array_parts(shape))


def rare_part(
    shape: Shape | None, values: Mapping[str, Any], statistics: ElementStatistics
) -> int | None:
    """The position, in ``shape``'s top-level AND, of the array condition that selects fewest
    runs if it selects at most :data:`RARE_ELEMENT_ROWS` (None: no such condition, or a
    condition on one of :data:`SINGLING_OUT_FIELDS` is ANDed with it)."""
    if any(part[1] in SINGLING_OUT_FIELDS for part in _top_level(shape) if part[0] == "cmp"):
        return None
    estimates = [
        (rows, position)
        for position, (_, column, op, _, parameter) in _array_parts(shape)
        if (rows := statistics.estimated_rows(column, op, list(values[parameter]))) is not None
    ]
    if not estimates:
        return None
    rows, position = min(estimates)
    return position if rows <= RARE_ELEMENT_ROWS else None


def _top_level(shape: Shape | None) -> tuple[Shape, ...]:
    if shape is None:
        return ()
    return tuple(shape[1]) if shape[0] == "and" else (shape,)


def _array_parts(shape: Shape | None) -> list[tuple[int, Shape]]:
    return [
        (position, part)
        for position, part in enumerate(_top_level(shape))
        if part[0] == "cmp" and part[1] in ARRAY_COLUMNS
    ]
