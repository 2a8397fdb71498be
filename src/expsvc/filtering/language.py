"""The filter expression language: a subset of Google AIP-160, parsed into a small tree.

Grammar (docs/filtering.md): ``OR`` binds tighter than ``AND`` (as in AIP-160), ``NOT`` (or
``-``) tighter than both, parentheses group::

    expression := factor ("AND" factor)*
    factor     := term ("OR" term)*
    term       := ["NOT" | "-"] simple
    simple     := "(" expression ")" | comparison
    comparison := member comparator value
    comparator := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    member     := word                      e.g. status, params.lr
    value      := word | "quoted string"    bare numbers are numbers; true/false/null; *

The tree says nothing about SQL: :mod:`expsvc.filtering.sql` checks fields, operators and values
against an entity's fields and binds them. Typed query parameters (``status=``, ``tag_any=``…)
are turned into the same tree, so one compiler serves both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from expsvc.errors import BadRequest

MAX_FILTER_LENGTH = 2048
MAX_CONDITIONS = 32
MAX_DEPTH = 8

COMPARATORS = ("=", "!=", "<", "<=", ">", ">=", ":")


class InvalidFilter(BadRequest):
    slug, title = "invalid-filter", "Invalid filter"

    def __init__(self, detail: str, position: int) -> None:
        super().__init__(f"{detail} (at position {position})", position=position)


class FilterTooComplex(BadRequest):
    slug, title = "filter-too-complex", "Filter too complex"


class UnknownFilterField(BadRequest):
    slug, title = "unknown-filter-field", "Unknown filter field"


class InvalidFilterValue(BadRequest):
    slug, title = "invalid-filter-value", "Invalid filter value"


class Exists:
    """The value ``*``: ``params.lr:*`` means "has the key lr"."""

    def __repr__(self) -> str:
        return "*"


EXISTS = Exists()


@dataclass(frozen=True)
class Condition:
    """``field op value``. Besides the language's comparators, typed filters use ``in``,
    ``has_any``, ``has_all`` and ``prefix`` (``value`` then a tuple, or a prefix)."""

    field: str
    op: str
    value: Any
    position: int = -1  # in the filter text; -1 for a typed filter


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Expression, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Expression, ...]


@dataclass(frozen=True)
class Negation:
    part: Expression


Expression = Condition | AllOf | AnyOf | Negation

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<paren>[()])
  | (?P<comparator>!=|<=|>=|=|<|>|:)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<word>[A-Za-z0-9_.*+@/\-]+)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"AND", "OR", "NOT"}


@dataclass(frozen=True)
class _Token:
    kind: str  # paren, comparator, string, word, keyword, end
    text: str
    position: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            if source[position] in "\"'":
                raise InvalidFilter("unterminated string", position)
            raise InvalidFilter(f"unexpected character {source[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            text = match.group()
            if kind == "word" and text in _KEYWORDS:
                kind = "keyword"
            tokens.append(_Token(kind, text, position))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _word_value(text: str) -> Any:
    if text == "*":
        return EXISTS
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0
        self.conditions = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != "end":
            raise InvalidFilter(
                f"expected AND, OR or the end, found {token.text!r}", token.position
            )

    def expression(self, depth: int) -> Expression:
        if depth > MAX_DEPTH:
            raise FilterTooComplex(
                f"the filter nests deeper than {MAX_DEPTH} levels", limit=MAX_DEPTH
            )
        parts = [self.factor(depth)]
        while self.peek().text == "AND":
            self.take()
            parts.append(self.factor(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def factor(self, depth: int) -> Expression:
        parts = [self.term(depth)]
        while self.peek().text == "OR":
            self.take()
            parts.append(self.term(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def term(self, depth: int) -> Expression:
        token = self.peek()
        if token.text == "NOT" or token.text == "-":
            self.take()
            return Negation(self.simple(depth))
        return self.simple(depth)

    def simple(self, depth: int) -> Expression:
        token = self.take()
        if token.text == "(":
            inner = self.expression(depth + 1)
            closing = self.take()
            if closing.text != ")":
                raise InvalidFilter(f"expected ')', found {closing.text!r}", closing.position)
            return inner
        if token.kind != "word":
            found = "the end" if token.kind == "end" else repr(token.text)
            raise InvalidFilter(f"expected a field name or '(', found {found}", token.position)
        return self.comparison(token)

    def comparison(self, member: _Token) -> Condition:
        comparator = self.take()
        if comparator.kind != "comparator":
            raise InvalidFilter(
                f"expected a comparator ({' '.join(COMPARATORS)}) after {member.text!r}",
                comparator.position,
            )
        value = self.take()
        if value.kind == "string":
            parsed: Any = _unquote(value.text)
        elif value.kind == "word":
            parsed = _word_value(value.text)
        else:
            raise InvalidFilter(f"expected a value after {comparator.text!r}", value.position)
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise FilterTooComplex(
                f"the filter has more than {MAX_CONDITIONS} comparisons", limit=MAX_CONDITIONS
            )
        return Condition(member.text, comparator.text, parsed, member.position)


def parse(source: str) -> Expression:
    """The tree of a ``filter=`` text; :class:`InvalidFilter` (with the position) if it does
    not parse, :class:`FilterTooComplex` past the limits."""
    if len(source) > MAX_FILTER_LENGTH:
        raise FilterTooComplex(
            f"the filter is longer than {MAX_FILTER_LENGTH} characters", limit=MAX_FILTER_LENGTH
        )
    parser = _Parser(source)
    if parser.peek().kind == "end":
        raise InvalidFilter("the filter is empty", 0)
    tree = parser.expression(0)
    parser.expect_end()
    return tree


def all_of(parts: list[Expression]) -> Expression | None:
    """The conjunction of ``parts`` (None for none)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def count_conditions(expression: Expression | None) -> int:
    if expression is None:
        return 0
    if isinstance(expression, Condition):
        return 1
    if isinstance(expression, Negation):
        return count_conditions(expression.part)
    return sum(count_conditions(part) for part in expression.parts)
