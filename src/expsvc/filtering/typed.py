"""Typed query parameters as filter trees, so they share the language's one compiler."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from expsvc.filtering.language import EXISTS, Condition, Expression, InvalidFilterValue, parse

_PARAMS_KEY_ONLY = re.compile(r"^[A-Za-z0-9_\-]+$")


def typed_params(comparisons: Sequence[str]) -> list[Expression]:
    """``params=lr<0.01`` / ``params=optimizer=adam`` / ``params=seed`` (has the key): each read
    as the language's ``params.<text>`` (a quoted value is a string, a bare number a number)."""
    parts: list[Expression] = []
    for text in comparisons:
        source = f"params.{text}:*" if _PARAMS_KEY_ONLY.match(text) else f"params.{text}"
        tree = parse(source)
        if not isinstance(tree, Condition) or (tree.value is EXISTS and tree.op != ":"):
            raise InvalidFilterValue(
                f"params={text!r}: expected key, key=value, key!=value, key<value, key<=value, "
                "key>value or key>=value",
                field="params",
            )
        parts.append(Condition(tree.field, tree.op, tree.value))
    return parts


def time_ranges(where: Any, fields: Sequence[str]) -> list[Expression]:
    """``<field>_after`` (inclusive) and ``<field>_before`` (exclusive) as conditions on
    ``<field>_at``."""
    parts: list[Expression] = []
    for name in fields:
        for side, op in (("after", ">="), ("before", "<")):
            if (value := getattr(where, f"{name}_{side}", None)) is not None:
                parts.append(Condition(f"{name}_at", op, value))
    return parts
