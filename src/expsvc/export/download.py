"""``expsvc export``'s client side: an export streamed into a file, resumable by key.

Exports are in id order and ``after`` continues one after an id, so an interrupted download
resumes from the last complete record in the file: the file is cut after it and the rest is
appended. JSON Lines and CSV resume (a record is a line, or a CSV record); a JSON array does
not (it is one document).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import orjson

RESUMABLE = ("jsonl", "csv")
_TAIL_BLOCK = 1 << 16


class DownloadError(Exception):
    """The export could not be (fully) written; the message says what to do."""


@dataclass(frozen=True)
class ResumePoint:
    """Where a partial file continues: its bytes up to ``size`` are whole records, the last of
    id ``after`` (None: no record yet); ``header``: a CSV file's header row, if written."""

    size: int
    after: str | None
    header: bytes | None = None


@dataclass
class Progress:
    lines: int = 0  # records, in JSON Lines; records and the header, in CSV
    bytes: int = 0


def resume_point(path: Path, format: str) -> ResumePoint:
    """The last complete record of the partial export in ``path``."""
    if format not in RESUMABLE:
        raise DownloadError(f"--resume works with jsonl and csv; {format} is one JSON array")
    with path.open("rb") as file:
        return _jsonl_point(file) if format == "jsonl" else _csv_point(file)


def _jsonl_point(file: IO[bytes]) -> ResumePoint:
    end = file.seek(0, io.SEEK_END)
    tail, start = b"", end
    # Back from the end, a block at a time, until the last complete line is in view.
    while start > 0 and tail.count(b"\n") < 2:
        start = max(0, start - _TAIL_BLOCK)
        file.seek(start)
        tail = file.read(end - start)
    complete = tail[: tail.rfind(b"\n") + 1]
    if not complete:
        return ResumePoint(0, None)
    last = complete[:-1].rsplit(b"\n", 1)[-1]
    return ResumePoint(start + len(complete), _record_id(orjson.loads(last)))


def _csv_point(file: IO[bytes]) -> ResumePoint:
    """Read the CSV records with the byte offset each ends at (a quoted cell may hold line
    breaks: only the csv module knows where a record ends)."""
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        while line := file.readline():
            if not line.endswith(b"\n"):
                return  # a partial last line
            consumed += len(line)
            yield line.decode()

    reader = csv.reader(lines())
    header_row = next(reader, None)
    if header_row is None:
        return ResumePoint(0, None)
    header_end = consumed
    if "id" not in header_row:
        raise DownloadError("the file has no id column to resume from")
    column = header_row.index("id")
    end, after = header_end, None
    for row in reader:
        if len(row) == len(header_row):
            end, after = consumed, row[column]
    file.seek(0)
    return ResumePoint(end, after, file.read(header_end))


def _record_id(record: Any) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise DownloadError("the last record has no id to resume from (export with the id field)")
    record_id: str = record["id"]
    return record_id


def download(
    client: httpx.Client,
    path: str,
    params: Sequence[tuple[str, str]],
    output: Path,
    resume: ResumePoint | None,
    progress: Callable[[Progress], None],
) -> Progress:
    """Stream ``GET path?params`` into ``output`` (after ``resume``'s records, if given)."""
    query = httpx.QueryParams(list(params))
    if resume is not None and resume.after is not None:
        query = query.add("after", resume.after)
    done = Progress()
    with client.stream("GET", path, params=query) as response:
        if response.status_code != 200:
            raise DownloadError(_problem(response))
        with output.open("r+b" if resume is not None else "wb") as file:
            if resume is not None:
                file.truncate(resume.size)
                file.seek(resume.size)
            chunks = response.iter_bytes()
            if resume is not None and resume.header is not None:
                chunks = _without_header(chunks, resume.header)
            try:
                for chunk in chunks:
                    file.write(chunk)
                    done.bytes += len(chunk)
                    done.lines += chunk.count(b"\n")
                    progress(done)
            except httpx.HTTPError as error:
                raise DownloadError(
                    f"the export was cut short ({error}); run again with --resume to continue"
                ) from error
    return done


def _without_header(chunks: Iterator[bytes], header: bytes) -> Iterator[bytes]:
    """The continuation of a CSV file without its header row, which must be the file's."""
    received = b""
    for chunk in chunks:
        received += chunk
        if len(received) >= len(header):
            break
    if received[: len(header)] != header:
        raise DownloadError("the file's CSV header is not this export's; give the same --fields")
    if rest := received[len(header) :]:
        yield rest
    yield from chunks


def _problem(response: httpx.Response) -> str:
    response.read()
    try:
        problem = response.json()
        return f"{problem['status']} {problem['title']}: {problem.get('detail', '')}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:500]}"
