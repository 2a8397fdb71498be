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
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from expsvc.export.schemas import ExportFormat

_OPTIONS = orjson.OPT_UTC_Z
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class Encoder:
    """The bytes of an export of ``columns``: :meth:`head`, :meth:`rows` per batch, :meth:`tail`."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = tuple(columns)

    def head(self) -> bytes:
        return b""

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        raise NotImplementedError

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
    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(columns)
        self.empty = True

    def head(self) -> bytes:
        return b"["

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        if not rows:
            return b""
        items = b",".join([_json(item, _OPTIONS) for item in self._objects(rows)])
        separator = b"" if self.empty else b","
        self.empty = False
        return separator + items

    def tail(self) -> bytes:
        return b"]\n"


class CsvEncoder(Encoder):
    def head(self) -> bytes:
        return self._lines([self.columns])

    def rows(self, rows: Sequence[Sequence[Any]]) -> bytes:
        cell = _cell
        return self._lines([[cell(value) for value in row] for row in rows])

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


def _rfc3339(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _json_cell(value: Any) -> str:
    return _json(value, _OPTIONS).decode()


# By the exact type of a value (what asyncpg returns); anything else (int, UUID) is str().
_CELLS: dict[type, Callable[[Any], str]] = {
    str: neutralised,
    type(None): lambda value: "",
    datetime: _rfc3339,
    list: _json_cell,
    dict: _json_cell,
}


def _cell(value: Any) -> str:
    return _CELLS.get(type(value), str)(value)


def _default(value: Any) -> Any:
    # asyncpg's own UUID type (what rows carry) is not the uuid.UUID orjson knows.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError


def _stdlib_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _rfc3339(value)
    return str(value)


def _json(document: Any, options: int) -> bytes:
    try:
        return orjson.dumps(document, default=_default, option=options)
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in params (JSONB holds it)
        text = json.dumps(
            document, default=_stdlib_default, ensure_ascii=False, separators=(",", ":")
        )
        newline = "\n" if options & orjson.OPT_APPEND_NEWLINE else ""
        return (text + newline).encode()
