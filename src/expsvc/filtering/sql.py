"""The one filter compiler: a filter tree (:mod:`expsvc.filtering.language`) to SQL.

Part of the repository layer (only repositories import it). Compiling has two steps so a hot
list keeps building each statement once per *shape*:

- :func:`bind` checks every condition against the entity's :class:`FieldSet` (unknown field,
  operator or value: a 400 problem) and returns the tree's shape (fields, operators and
  parameter names, no values) with the values to bind;
- :func:`shape_sql` turns a shape into a SQLAlchemy condition whose values are all bound
  parameters (never text from the request), cached per shape.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    false,
    func,
    literal_column,
    not_,
    or_,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from expsvc.filtering.language import (
    EXISTS,
    AllOf,
    AnyOf,
    Condition,
    Expression,
    InvalidFilterValue,
    Negation,
    UnknownFilterField,
)
from expsvc.lifecycle import Status

# A shape: ("cmp", field, op, variant, parameter) | ("and"|"or", shapes) | ("not", shape)
Shape = tuple[Any, ...]
_ORDERED = ("=", "!=", "<", "<=", ">", ">=")
# A params key; also what makes one safe as a literal in SQL (expsvc.run.param_indexes).
PARAM_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")
# A substring (``:``) whose index reads some of its words only (expsvc.run.name_words), bound
# as a second parameter (:func:`words_parameter`).
WORDS_VARIANT = "words"


def words_parameter(parameter: str) -> str:
    """The parameter of the words a :data:`WORDS_VARIANT` substring's index reads."""
    return f"{parameter}_words"


class _Binder:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"filter_{len(self.values)}"
        self.values[name] = value
        return name


def _refuse(condition: Condition, why: str) -> InvalidFilterValue:
    where = "" if condition.position < 0 else f" (at position {condition.position})"
    return InvalidFilterValue(
        f"{condition.field} {condition.op} {condition.value!r}: {why}{where}",
        field=condition.field,
        position=condition.position if condition.position >= 0 else None,
    )


@dataclass(frozen=True)
class FilterField:
    """How one field filters: which operators, how a value is checked, and the SQL.

    ``check(condition) -> (variant, value)`` validates and converts the value; ``sql(variant,
    op, parameter)`` builds the condition on the bound ``parameter``.
    """

    ops: frozenset[str]
    check: Callable[[Condition], tuple[str, Any]]
    sql: Callable[[str, str, Any], ColumnElement[bool]]


@dataclass(frozen=True, eq=False)
class FieldSet:
    """The fields an entity filters on; ``params`` (a JSONB column) takes ``params.<key>``."""

    fields: dict[str, FilterField]
    params: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return id(self)

    def names(self) -> list[str]:
        return sorted([*self.fields, *(["params.<key>"] if self.params is not None else [])])


def bind(expression: Expression | None, fields: FieldSet) -> tuple[Shape | None, dict[str, Any]]:
    """The shape of ``expression`` and the values to bind (None, {} for no filter)."""
    if expression is None:
        return None, {}
    binder = _Binder()
    return _bind(expression, fields, binder), binder.values


def _bind(expression: Expression, fields: FieldSet, binder: _Binder) -> Shape:
    if isinstance(expression, AllOf | AnyOf):
        kind = "and" if isinstance(expression, AllOf) else "or"
        return (kind, tuple(_bind(part, fields, binder) for part in expression.parts))
    if isinstance(expression, Negation):
        return ("not", _bind(expression.part, fields, binder))
    return _bind_condition(expression, fields, binder)


def _bind_condition(condition: Condition, fields: FieldSet, binder: _Binder) -> Shape:
    if condition.field.startswith("params.") and fields.params is not None:
        return _bind_param(condition, binder)
    spec = fields.fields.get(condition.field)
    if spec is None:
        where = "" if condition.position < 0 else f" (at position {condition.position})"
        raise UnknownFilterField(
            f"unknown field {condition.field!r}{where}; known: {', '.join(fields.names())}",
            field=condition.field,
            known=fields.names(),
        )
    if condition.op not in spec.ops:
        allowed = " ".join(sorted(op for op in spec.ops if len(op) <= 2))
        raise _refuse(condition, f"{condition.field} takes {allowed}")
    variant, value = spec.check(condition)
    return ("cmp", condition.field, condition.op, variant, binder.add(value))


def _bind_param(condition: Condition, binder: _Binder) -> Shape:
    key = condition.field.removeprefix("params.")
    if not PARAM_KEY.match(key):
        raise _refuse(condition, "a params key is 1 to 128 letters, digits, '_' or '-'")
    value, op = condition.value, condition.op
    key_parameter = binder.add(key)
    if value is EXISTS:
        if op != ":":
            raise _refuse(condition, "* goes with ':' (params.key:*)")
        return ("param", "exists", "", key_parameter, "")
    if op not in _ORDERED and op != ":":
        raise _refuse(condition, "params take = != < <= > >= and :*")
    op = "=" if op == ":" else op
    if isinstance(value, bool) or value is None:
        if op not in ("=", "!="):
            raise _refuse(condition, "true, false and null compare with = or != only")
        variant = "json"
    elif isinstance(value, int | float):
        variant = "number"
    elif isinstance(value, str):
        variant = "string"
    else:
        raise _refuse(condition, "a params value is a number, a string, true, false or null")
    document = orjson.dumps({key: value}).decode()
    scalar = orjson.dumps(value).decode()
    return ("param", op, variant, key_parameter, binder.add((document, scalar)))


# ---- value checks -------------------------------------------------------------------------


def _one_or_many(values: list[Any]) -> tuple[str, Any]:
    """An ``in`` list's variant and value: one value is compared with ``=`` (an index on the
    column then also gives the order, which ``= ANY(...)`` does not), several as an array."""
    return ("one", values[0]) if len(values) == 1 else ("", values)


def _text_value(condition: Condition) -> tuple[str, Any]:
    if condition.op == "in":
        return _one_or_many(list(condition.value))
    if condition.op in ("has_any", "has_all"):
        return "", list(condition.value)
    if not isinstance(condition.value, str | int | float) or isinstance(condition.value, bool):
        raise _refuse(condition, "expected a string")
    text = str(condition.value)
    if condition.op == ":":
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "", f"%{escaped}%"
    if condition.op == "prefix":
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return "", f"{escaped}%"
    return "", text


def _status_value(condition: Condition) -> tuple[str, Any]:
    values = condition.value if condition.op == "in" else (condition.value,)
    known = {status.value for status in Status}
    for value in values:
        if value not in known:
            raise _refuse(condition, f"a status is one of {', '.join(sorted(known))}")
    return _one_or_many(list(values)) if condition.op == "in" else ("", condition.value)


def _uuid_value(condition: Condition) -> tuple[str, Any]:
    try:
        if condition.op == "in":
            return _one_or_many([uuid.UUID(str(value)) for value in condition.value])
        return "", uuid.UUID(str(condition.value))
    except ValueError:
        raise _refuse(condition, "expected a UUID") from None


def _time_value(condition: Condition) -> tuple[str, Any]:
    value = condition.value
    if isinstance(value, datetime):
        return "", value
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise _refuse(condition, "expected an RFC 3339 time, quoted") from None
    if parsed.tzinfo is None:
        raise _refuse(condition, "the time needs a UTC offset (e.g. Z)")
    return "", parsed


def _sha_value(condition: Condition) -> tuple[str, Any]:
    value = condition.value
    if not isinstance(value, str) or not _SHA.match(value):
        raise _refuse(condition, "a git SHA is 7 to 64 hex characters (a prefix or in full)")
    return "", value.lower() + "%"


def _array_value(condition: Condition) -> tuple[str, Any]:
    if condition.op in ("has_any", "has_all"):
        return "", sorted(set(condition.value))
    if not isinstance(condition.value, str) or condition.value == "":
        raise _refuse(condition, "expected a non-empty string")
    return "", [condition.value]


# ---- SQL per kind -------------------------------------------------------------------------


def _compare(column: ColumnElement[Any], op: str, parameter: Any) -> ColumnElement[bool]:
    comparisons: dict[str, Callable[[], ColumnElement[bool]]] = {
        "=": lambda: column == parameter,
        "!=": lambda: column != parameter,
        "<": lambda: column < parameter,
        "<=": lambda: column <= parameter,
        ">": lambda: column > parameter,
        ">=": lambda: column >= parameter,
    }
    return comparisons[op]()


def scalar_field(column: ColumnElement[Any], kind: str, *, contains: bool = False) -> FilterField:
    """A column compared by value: kind text, status, uuid or time."""
    checks = {"text": _text_value, "status": _status_value, "uuid": _uuid_value}
    check = checks.get(kind, _time_value)
    ops = {"=", "!=", "in"} if kind in ("status", "uuid") else {*_ORDERED, "in"}
    if kind == "time":
        ops = set(_ORDERED)
    if contains:
        ops |= {":", "prefix"}

    def sql(variant: str, op: str, name: str) -> ColumnElement[bool]:
        if op == "in" and variant == "one":
            return column == bindparam(name)
        if op == "in":
            # One array parameter, not an expanding IN: the statement's text stays the same
            # whatever the number of values, so it runs prepared on the driver.
            return column == any_(bindparam(name, type_=ARRAY(column.type)))
        if op == ":" and variant == WORDS_VARIANT:
            # The index reads the words; the substring is checked on an expression no index
            # serves, so that the planner does not read its common words' trigrams again.
            words = column.ilike(bindparam(words_parameter(name)))
            unindexed = column + literal_column("''")
            return and_(words, unindexed.ilike(bindparam(name), escape="\\"))
        if op == ":":
            return column.ilike(bindparam(name), escape="\\")
        if op == "prefix":  # byte order (COLLATE "C"): a range of the name's C index
            return column.collate("C").like(bindparam(name), escape="\\")
        return _compare(column, op, bindparam(name))

    return FilterField(frozenset(ops), check, sql)


def sha_field(column: ColumnElement[Any]) -> FilterField:
    """A git SHA: ``=`` and ``:`` match a prefix of 7 or more hex characters (the full SHA is a
    prefix of itself), a range of the ``COLLATE "C"`` index."""

    def sql(variant: str, op: str, name: str) -> ColumnElement[bool]:
        matches = column.collate("C").like(bindparam(name))
        return not_(matches) if op == "!=" else matches

    return FilterField(frozenset({"=", ":", "!="}), _sha_value, sql)


def array_field(column: ColumnElement[Any]) -> FilterField:
    """A text[] column: ``tags:gpu`` has gpu; typed filters use has_any / has_all (GIN)."""

    def sql(variant: str, op: str, name: str) -> ColumnElement[bool]:
        parameter = bindparam(name, type_=ARRAY(Text))
        return column.overlap(parameter) if op == "has_any" else column.contains(parameter)

    return FilterField(frozenset({":", "has_any", "has_all"}), _array_value, sql)


def _param_sql(column: ColumnElement[Any], shape: Shape) -> ColumnElement[bool]:
    _, op, variant, key_name, value_name = shape
    key = bindparam(key_name, type_=Text)
    if op == "exists":
        has: ColumnElement[bool] = column.has_key(key)
        return has
    document = cast(bindparam(value_name + "_doc", type_=Text), JSONB)
    if op == "=":
        return column.contains(document)
    if op == "!=":
        return and_(column.has_key(key), not_(column.contains(document)))
    member = column.op("->", return_type=JSONB)(key)
    scalar = cast(bindparam(value_name + "_scalar", type_=Text), JSONB)
    kind = "number" if variant == "number" else "string"
    return and_(func.jsonb_typeof(member) == kind, _compare(member, op, scalar))


def shape_values(values: dict[str, Any]) -> dict[str, Any]:
    """The bound values as the driver takes them (a params value is two parameters)."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, tuple):
            flat[name + "_doc"], flat[name + "_scalar"] = value
        else:
            flat[name] = value
    return flat


@functools.lru_cache(maxsize=1024)
def shape_sql(shape: Shape, fields: FieldSet) -> ColumnElement[bool]:
    """The SQL condition of ``shape`` (see :func:`bind`), built once per shape."""
    kind = shape[0]
    if kind == "and":
        return and_(true(), *(shape_sql(part, fields) for part in shape[1]))
    if kind == "or":
        return or_(false(), *(shape_sql(part, fields) for part in shape[1]))
    if kind == "not":
        return not_(shape_sql(shape[1], fields))
    if kind == "param":
        return _param_sql(fields.params, shape)
    _, name, op, variant, parameter = shape
    return fields.fields[name].sql(variant, op, parameter)
