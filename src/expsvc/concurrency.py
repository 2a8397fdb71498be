"""Optimistic concurrency: strong ETags from entity versions and the ``If-Match`` header."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header

from expsvc.errors import BadRequest

# What ExpectedVersions.parse accepts, declared: "*", or a list of entity tags (RFC 9110 8.8.3):
# strong ones whose value is a version number, weak ones (never matching, RFC 9110 13.1.1) of
# any visible ASCII.
MAX_VERSION = 2**31 - 1
_STRONG_TAG = r'"([0-9]{1,18})"'
_WEAK_TAG = r'W/"[\x21\x23-\x7e]*"'
_ENTITY_TAG = rf"({_STRONG_TAG}|{_WEAK_TAG})"
IF_MATCH_PATTERN = rf"^(\*|{_ENTITY_TAG}([ \t]*,[ \t]*{_ENTITY_TAG})*)$"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
# Tags are read in order from a header that matched the whole grammar: a weak tag may hold
# commas (any visible ASCII but '"'), so the list cannot be split on them.
_TAGS = re.compile(_ENTITY_TAG)


def etag_for(version: int) -> str:
    return f'"{version}"'


class ExpectedVersions:
    """The versions an ``If-Match`` header accepts; ``None`` means any (header absent or ``*``)."""

    def __init__(self, versions: frozenset[int] | None) -> None:
        self.versions = versions

    def accepts(self, version: int) -> bool:
        return self.versions is None or version in self.versions

    @classmethod
    def parse(cls, header: str | None) -> ExpectedVersions:
        if header is None or header.strip(" \t") == "*":
            return cls(None)
        tags = header.strip(" \t")
        if _IF_MATCH.fullmatch(tags) is None:
            raise BadRequest(f"malformed If-Match header: {header!r}")
        versions: set[int] = set()
        for tag in _TAGS.finditer(tags):
            # Weak tags (no version group) never match a strong comparison (RFC 9110 13.1.1).
            # Versions are int32 (2**31 - 1 at most): a larger one matches no entity, and must
            # not reach the database as a query parameter.
            version = tag[2]
            if version is not None and int(version) <= MAX_VERSION:
                versions.add(int(version))
        return cls(frozenset(versions))


async def if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            max_length=1024,
            # Declared only: parse() answers a malformed header 400, as it always has.
            json_schema_extra={"pattern": IF_MATCH_PATTERN, "examples": ['"3"', "*"]},
            description=(
                'ETag of the version you read (e.g. "3"), several comma-separated, or *; '
                "412 if the resource changed since."
            ),
        ),
    ] = None,
) -> ExpectedVersions:
    # async: FastAPI runs plain-def dependencies in a worker thread, a hop on every request.
    return ExpectedVersions.parse(if_match)
