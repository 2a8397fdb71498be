"""Event data versions: an incompatible change of an event type's ``data`` publishes the old
shape beside the new one for two releases (docs/adr/0021, docs/events.md).

The outbox keeps one row per occurrence, in the newest shape (what the recorder writes). When
the row is published (feed, SSE, Redis, Kafka, webhooks) it is rendered once per version still
published: the newest from the row, each older one by the registered *downgrade* of the change
that replaced it. All versions of one occurrence share its ``sequence`` (the log position, so
cursors and the gap-free feed are untouched) and differ in ``schemaversion`` and
``dataschema``; each has its own ``id`` (the newest keeps the row's, an older one's is derived
from it, the same on every redelivery), so "deduplicate by id" stays true.

A change is declared with the release that introduces it (``introduced_in``). The older version
is published by that release and the next one (releases.toml): the code of the third release
no longer renders it, and ``tests/event/test_versions.py`` fails until the change's downgrade is
removed from :data:`EVENT_CHANGES`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from expsvc import __version__
from expsvc.event.catalogue import EVENT_TYPES
from expsvc.release.catalogue import Release, release_key, releases

FIRST_VERSION = 1
# The old version of a change is published by this many releases: the one introducing the change
# and the next.
PUBLISHED_RELEASES = 2
# Which versions a feed or stream reader asks for: every version published, or for each event
# only its newest or its oldest published one.
VersionChoice = Literal["all", "newest", "oldest"]

Downgrade = Callable[[dict[str, Any]], dict[str, Any]]


def dataschema(event_type: str, version: int) -> str:
    """The CloudEvents ``dataschema`` of a type's version: a URN naming the schema documented
    in docs/events.md (there is no schema document to fetch)."""
    return f"urn:expsvc:events:{event_type}:{version}"


@dataclass(frozen=True)
class EventChange:
    """``version`` of ``event_type``'s data replaces ``version - 1`` from release
    ``introduced_in`` on; ``downgrade`` turns data of ``version`` into data of ``version - 1``
    (it receives a copy it may change)."""

    event_type: str
    version: int
    introduced_in: str
    downgrade: Downgrade
    description: str = ""


class EventVersions:
    """The registry of changes, judged against the releases file and this code's release."""

    def __init__(
        self,
        changes: Iterable[EventChange] = (),
        *,
        catalogue: Sequence[Release] | None = None,
        release: str = __version__,
    ) -> None:
        self.catalogue = tuple(catalogue if catalogue is not None else releases())
        self.release = release_key(release)
        self.changes: dict[str, list[EventChange]] = {}
        for change in sorted(changes, key=lambda c: (c.event_type, c.version)):
            self._add(change)

    def _add(self, change: EventChange) -> None:
        if change.event_type not in EVENT_TYPES:
            raise ValueError(f"not an event type: {change.event_type}")
        chain = self.changes.setdefault(change.event_type, [])
        expected = chain[-1].version + 1 if chain else FIRST_VERSION + 1
        if change.version != expected:
            raise ValueError(f"{change.event_type}: version {change.version}, expected {expected}")
        if release_key(change.introduced_in) > self.release:
            raise ValueError(f"{change.event_type} v{change.version}: not released by this code")
        chain.append(change)

    def newest(self, event_type: str) -> int:
        chain = self.changes.get(event_type)
        return chain[-1].version if chain else FIRST_VERSION

    def releases_since(self, change: EventChange) -> int:
        """How many releases, up to this code's, have published ``change``'s new version."""
        start = release_key(change.introduced_in)
        return sum(
            1 for entry in self.catalogue if start <= release_key(entry.version) <= self.release
        )

    def still_published(self, change: EventChange) -> bool:
        """Whether this code still publishes the version ``change`` replaced."""
        return self.releases_since(change) <= PUBLISHED_RELEASES

    def expired(self) -> list[EventChange]:
        """Changes whose old version this code no longer publishes: their downgrades are dead
        code, to be removed."""
        return [c for chain in self.changes.values() for c in chain if not self.still_published(c)]

    def render(
        self, envelope: dict[str, Any], choice: VersionChoice = "all"
    ) -> list[dict[str, Any]]:
        """``envelope`` (the newest version, as built from its outbox row) and the older
        versions still published, newest first; ``choice`` narrows them."""
        event_type = envelope["type"]
        rendered = [envelope]
        for change in reversed(self.changes.get(event_type, ())):
            if not self.still_published(change):
                break
            newer = rendered[-1]
            older = dict(newer)
            older["id"] = str(uuid.uuid5(uuid.UUID(envelope["id"]), f"v{change.version - 1}"))
            older["schemaversion"] = str(change.version - 1)
            older["dataschema"] = dataschema(event_type, change.version - 1)
            older["data"] = change.downgrade(copy.deepcopy(newer["data"]))
            rendered.append(older)
        if choice == "newest":
            return rendered[:1]
        if choice == "oldest":
            return rendered[-1:]
        return rendered

    def render_all(
        self, envelopes: Iterable[dict[str, Any]], choice: VersionChoice = "all"
    ) -> list[dict[str, Any]]:
        return [version for envelope in envelopes for version in self.render(envelope, choice)]


# The incompatible changes of event data, oldest first. None so far: every type is at version 1.
EVENT_CHANGES: tuple[EventChange, ...] = ()
EVENT_VERSIONS = EventVersions(EVENT_CHANGES)
