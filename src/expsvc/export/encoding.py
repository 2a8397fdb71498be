"""Rows to bytes, a batch at a time: JSON Lines, one JSON array, or CSV.

Values look as the API shows them (UUIDs as strings, UTC times in RFC 3339 with ``Z``); in CSV,
JSON-valued fields (tags, params, ...) are JSON text, and a text cell that a spreadsheet would
run as a formula is neutralised: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading apostrophe (the OWASP guidance on CSV injection). The quoting is
RFC 4180's (a cell with a comma, a quote or a line break is quoted, quotes doubled), lines end
with CRLF.
"""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from types import NoneType, UnionType
from typing import Any, get_args, get_origin

import orjson
from pydantic import BaseModel

from expsvc.export.schemas import ExportFormat

_OPTIONS = orjson.OPT_UTC_Z
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Encoder(ABC):
    """The bytes of an export of ``columns`` (fields of ``model``): :meth:`head`, :meth:`rows`
    per batch, :meth:`tail`."""

    def __init__(self, columns: Sequence[str], model: type[BaseModel]) -> None:
        self.columns = tuple(columns)
        self.model = model

    def head(self) -> bytes:
        return b""

    @abstractmethod
    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        """The bytes of a batch of rows (an empty batch: none)."""

    def tail(self) -> bytes:
        return b""

    def _objects(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in rows]


class JsonLinesEncoder(Encoder):
    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        options = _OPTIONS | orjson.OPT_APPEND_NEWLINE
        return b"".join([_json(item, options) for item in self._objects(rows)])


class JsonArrayEncoder(Encoder):
    def __init__(self, columns: Sequence[str], model: type[BaseModel]) -> None:
        super().__init__(columns, model)
        self.empty = True

    def head(self) -> bytes:
        return b"["

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        items = _json(self._objects(rows), _OPTIONS)[1:-1]  # the batch as one array's items
        separator = b"," if items and not self.empty else b""
        self.empty = self.empty and not items
        return separator + items

    def tail(self) -> bytes:
        return b"]\n"


class CsvEncoder(Encoder):
    def __init__(self, columns: Sequence[str], model: type[BaseModel]) -> None:
        super().__init__(columns, model)
        # One conversion per column, chosen once from the field's type.
        self.cells = [_cell_of(model.model_fields[name].annotation) for name in self.columns]

    def head(self) -> bytes:
        return self._lines([self.columns])

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        cells = self.cells
        lines = [[cell(value) for cell, value in zip(cells, row, strict=True)] for row in rows]
        return self._lines(lines)

    @staticmethod
    def _lines(rows: Sequence[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue().encode()


ENCODERS: dict[ExportFormat, type[Encoder]] = {
    ExportFormat.jsonl: JsonLinesEncoder,
    ExportFormat.json: JsonArrayEncoder,
    ExportFormat.csv: CsvEncoder,
}


def neutralised(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text_cell(value: str | None) -> str:
    return "" if value is None else neutralised(value)


def _time_cell(value: datetime | None) -> str:
    # orjson's rendering, as in the JSON formats and the API's answers.
    return "" if value is None else orjson.dumps(value, option=_OPTIONS)[1:-1].decode()


def _json_cell(value: Any) -> str:
    return "" if value is None else _json(value, _OPTIONS).decode()


def _plain_cell(value: Any) -> str:
    return "" if value is None else str(value)


def _cell_of(annotation: Any) -> Callable[[Any], str]:
    """How a CSV cell shows a field of this type (``X | None`` as ``X``, null as empty)."""
    if isinstance(annotation, UnionType):
        [annotation] = [kind for kind in get_args(annotation) if kind is not NoneType]
    kind = get_origin(annotation) or annotation
    if kind is datetime:
        return _time_cell
    if kind in (list, dict):
        return _json_cell
    if isinstance(kind, type) and issubclass(kind, str):
        return _text_cell
    return _plain_cell


def _stdlib_time(value: datetime) -> str:
    # The rows' only type the stdlib's json lacks: the export's statement has PostgreSQL write
    # UUIDs as text (expsvc.repository._exported). orjson's rendering, as on its own path.
    return orjson.dumps(value, option=_OPTIONS)[1:-1].decode()


def _json(document: Any, options: int) -> bytes:
    try:
        return orjson.dumps(document, option=options)
    except orjson.JSONEncodeError:
        # e.g. params nested deeper than orjson writes (254 levels), which JSONB holds and reads
        # back (the API refuses them; an earlier release or SQL may have written them).
        text = json.dumps(document, default=_stdlib_time, ensure_ascii=False, separators=(",", ":"))
        newline = "\n" if options & orjson.OPT_APPEND_NEWLINE else ""
        return (text + newline).encode()
