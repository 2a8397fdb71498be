"""Which words of a ``name_contains`` substring the trigram index reads (ADR 0038).

``name ILIKE '%run-4242%'`` makes the GIN of ``ix_runs_name_trgm`` read the posting list of
every trigram of the pattern's words, and a word most names hold (``run`` in ``expsvc seed``'s
``resnet-run-4242``, a project's prefix in real ones) has a posting list of nearly every run:
on 1,000,000 runs that condition read 687 buffers in 11 ms for 111 runs. The index reads the
other words instead (``name ILIKE '%4242%'``: 228 buffers, 1.1 ms) and the substring itself is
checked on the runs it returns, as an expression no index serves (``(name || '') ILIKE
'%run-4242%'``), so the planner cannot put the common word back into the index scan.

Which words are common is read from ANALYZE's sample of the names (``pg_stats``' most common
values and histogram bounds of ``runs.name``, with the table's other facts): a word is dropped
when at least :data:`COMMON_SHARE` of the sampled names hold it. The words kept must still single
the runs out (at most :data:`SINGLING_OUT_SHARE` of the sample holds them all): the planner
estimates the pair of conditions far below the one, which is right only for a rare substring,
and it chooses between the trigram index and an experiment's runs by that estimate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from expsvc.filtering.sql import WORDS_VARIANT, Shape, words_parameter

# pg_trgm's words: runs of letters and digits (anything else separates them).
_WORD = re.compile(r"[^\W_]+")
# pg_trgm reads no trigram of a word shorter than this between two wildcards: a pattern of such
# words alone would scan the whole index.
_TRIGRAM = 3
COMMON_SHARE = 0.5
SINGLING_OUT_SHARE = 0.01


@dataclass(frozen=True)
class NameSample:
    """ANALYZE's sample of the runs' names, casefolded (empty: the table was never analysed)."""

    names: tuple[str, ...] = ()

    @classmethod
    def of(cls, names: Iterable[str | None] | None) -> NameSample:
        return cls(tuple(name.casefold() for name in names or () if name is not None))

    def share(self, words: Iterable[str]) -> float:
        """The share of the sampled names holding every one of ``words``."""
        folded = [word.casefold() for word in words]
        held = sum(1 for name in self.names if all(word in name for word in folded))
        return held / len(self.names)

    def indexed_words(self, pattern: str) -> str | None:
        """The LIKE pattern of the words the index reads for a substring's bound ``pattern``
        (``%4242%`` for ``%run-4242%``; its escaped ``\\ % _`` are in no word), or None: the
        pattern itself (no word is common, or the others would not single the runs out)."""
        if not self.names:
            return None
        words = _WORD.findall(pattern)
        kept = [word for word in words if self.share([word]) < COMMON_SHARE]
        if len(kept) == len(words) or all(len(word) < _TRIGRAM for word in kept):
            return None
        if self.share(kept) > SINGLING_OUT_SHARE:
            return None
        # The words in their order, each between wildcards: every name holding ``text`` holds
        # them so (ILIKE folds case on both sides), and no word boundary adds the padded
        # trigrams (`` 42``) that a common first digit would have made nearly as long.
        return "%" + "%".join(kept) + "%"

    def narrowed(self, shape: Shape | None, values: dict[str, Any]) -> Shape | None:
        """``shape`` with each ``name`` substring that has a common word read by its other
        words (:data:`~expsvc.filtering.sql.WORDS_VARIANT`), their pattern added to ``values``."""
        if shape is None or not self.names:
            return shape
        kind = shape[0]
        if kind in ("and", "or"):
            return (kind, tuple(self.narrowed(part, values) for part in shape[1]))
        if kind == "not":
            return ("not", self.narrowed(shape[1], values))
        if kind != "cmp" or shape[1] != "name" or shape[2] != ":":
            return shape
        parameter = shape[4]
        words = self.indexed_words(values[parameter])
        if words is None:
            return shape
        values[words_parameter(parameter)] = words
        return ("cmp", "name", ":", WORDS_VARIANT, parameter)


NO_NAME_SAMPLE = NameSample()
