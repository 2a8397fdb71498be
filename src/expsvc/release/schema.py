"""Whether this code runs on the database's schema: the one answer readiness and
``expsvc db current`` give (docs/adr/0017, docs/runbook.md#releases-and-schema-compatibility)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from expsvc import __version__
from expsvc.migrate import alembic_config, current_revision
from expsvc.release.catalogue import current_release, release_key
from expsvc.release.repository import RecordedRelease, recorded


class SchemaState(StrEnum):
    ok = "ok"  # at this code's head
    behind_compatible = "behind-compatible"  # older, but not older than the code's oldest_schema
    ahead_compatible = "ahead-compatible"  # newer, and its record says this release runs on it
    behind = "behind"  # older than the oldest schema this code runs on
    ahead_incompatible = "ahead-incompatible"  # newer, and no record says this release runs on it
    missing = "missing"  # no schema at all

    @property
    def ready(self) -> bool:
        return self in _READY


_READY = {SchemaState.ok, SchemaState.behind_compatible, SchemaState.ahead_compatible}


@dataclass(frozen=True)
class SchemaReport:
    state: SchemaState
    revision: str | None
    # The database's record of its revision; read only when the revision is one the code lacks.
    recorded: RecordedRelease | None = None


@dataclass(frozen=True)
class SchemaExpectation:
    """What the code in this process expects of the schema."""

    version: str
    head: str
    oldest: str
    runs_on: frozenset[str]  # from oldest to head
    known: frozenset[str]  # every revision this code has a migration for

    @classmethod
    def of_this_code(cls, version: str = __version__) -> SchemaExpectation:
        script = ScriptDirectory.from_config(alembic_config())
        newest_first = [revision.revision for revision in script.walk_revisions()]
        oldest = current_release(version).oldest_schema
        if oldest not in newest_first:
            raise RuntimeError(f"releases.toml: oldest_schema {oldest!r} is not a migration")
        return cls(
            version=version,
            head=newest_first[0],
            oldest=oldest,
            runs_on=frozenset(newest_first[: newest_first.index(oldest) + 1]),
            known=frozenset(newest_first),
        )

    def judge(self, revision: str | None, record: RecordedRelease | None) -> SchemaState:
        if revision is None:
            return SchemaState.missing
        if revision == self.head:
            return SchemaState.ok
        if revision in self.runs_on:
            return SchemaState.behind_compatible
        if revision in self.known:
            return SchemaState.behind
        if record is not None and release_key(record.oldest_compatible_release) <= release_key(
            self.version
        ):
            return SchemaState.ahead_compatible
        return SchemaState.ahead_incompatible

    def explain(self, report: SchemaReport) -> str:
        """One line for operators: what the state means here."""
        at = f"the database is at {report.revision}"
        record = report.recorded
        match report.state:
            case SchemaState.ok:
                return f"{at}, this code's head"
            case SchemaState.behind_compatible:
                return (
                    f"{at}, behind this code's head {self.head} but not older than "
                    f"{self.oldest}, the oldest schema it runs on"
                )
            case SchemaState.behind:
                return (
                    f"{at}, older than {self.oldest}, the oldest schema this code runs on; "
                    "run expsvc db upgrade"
                )
            case SchemaState.ahead_compatible if record is not None:
                return (
                    f"{at}, migrated by {record.release}, which runs releases from "
                    f"{record.oldest_compatible_release} on it"
                )
            case SchemaState.ahead_incompatible if record is not None:
                return (
                    f"{at}, migrated by {record.release}, which runs releases from "
                    f"{record.oldest_compatible_release} on it, not {self.version}; "
                    "roll out that release"
                )
            case SchemaState.ahead_incompatible:
                return f"{at}, a revision this code does not know and the database has no record of"
            case _:
                return "the database has no schema; run expsvc db upgrade"

    async def read(self, connection: AsyncConnection) -> SchemaReport:
        """The database's revision, and its record when it is ahead of this code."""
        revision = await current_revision(connection)
        record = None
        if revision is not None and revision not in self.known:
            record = await recorded(connection, revision)
        return SchemaReport(self.judge(revision, record), revision, record)
