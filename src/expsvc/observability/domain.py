"""Business and domain metrics, counted when the change that they describe commits.

A change writes its change-log rows (:mod:`expsvc.change_log`) inside its transaction; the facts
those rows carry (an entity created, a transition with its source and reason) are noted on the
session as they are written and turned into counter increments by the session's ``after_commit``
event, so work that rolls back (a refused bulk change, a retried request, a savepoint a rejected
inbound event rolls back) is never counted. The cost on the request path is a list append per
change and a counter increment per fact after the commit.

Every label value comes from a closed set (enums, a list of known reasons, ``other``), never
from a request: the number of series is bounded (tests/observability/test_cardinality.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from expsvc.lifecycle import EntityKind, Source, Status

# The session ``info`` keys: the process's metrics (set by the sessionmaker), the facts noted
# in the open transaction, and the tally's length when each savepoint began.
METRICS_INFO_KEY = "expsvc_domain_metrics"
_TALLY = "expsvc_domain_tally"
_MARKS = "expsvc_domain_savepoints"

# Reasons the service itself gives (the reaper, reconciliation, cascades); any other reason
# (a user's or a neighbour's free text) is counted as ``other``, no reason as ``none``.
KNOWN_REASONS = frozenset(
    {
        "heartbeat_lost",
        "max_duration_exceeded",
        "telemetry_lost",
        "run_closed",
        "ingest_stopped",
        "run_finished",
        "run_failed",
        "first run started",
    }
)
# The action that leads into each status (a capture session's finish is its stop).
_ACTION_INTO = {
    Status.running.value: "start",
    Status.finished.value: "finish",
    Status.failed.value: "fail",
    Status.archived.value: "archive",
}
_ENTITIES = frozenset(kind.value for kind in EntityKind)
_SOURCES = frozenset(source.value for source in Source)
INBOUND_OUTCOMES = frozenset({"applied", "duplicate", "orphaned", "rejected"})
INBOUND_SOURCES = frozenset({"telemetry-ingest", "artifact-service"})
DRIFT_KINDS = ("run_closed", "ingest_stopped", "telemetry_lost", "unknown_to_ingest")

# A noted fact: ("created", entity) | ("transition", entity, action, source, reason)
# | ("inbound", source, outcome).
Fact = tuple[str, ...]


class DomainMetrics:
    """The business counters of one process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "expsvc_entities_created",
            "Experiments, runs and capture sessions created (committed), by entity.",
            ["entity"],
            registry=registry,
        )
        self.transitions = Counter(
            "expsvc_transitions",
            "Status transitions committed, by entity, action, source (user, system, worker, "
            "integration) and reason (the service's own reasons; other, none).",
            ["entity", "action", "source", "reason"],
            registry=registry,
        )
        self.inbound = Counter(
            "expsvc_inbound_events",
            "Events received from neighbours (committed), by source and outcome.",
            ["source", "outcome"],
            registry=registry,
        )
        self.capture_drift = Counter(
            "expsvc_capture_drift_found",
            "Capture sessions reconciliation found out of step, by kind.",
            ["kind"],
            registry=registry,
        )

    def count(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            if fact[0] == "transition":
                self.transitions.labels(*fact[1:]).inc()
            elif fact[0] == "created":
                self.created.labels(fact[1]).inc()
            else:
                self.inbound.labels(*fact[1:]).inc()

    def drift(self, found: dict[str, int]) -> None:
        for kind, count in found.items():
            if count:
                self.capture_drift.labels(kind).inc(count)


def bounded(value: str | None, allowed: frozenset[str]) -> str:
    if value is None:
        return "none"
    return value if value in allowed else "other"


def note_change_log(
    session: Any, history: Sequence[dict[str, Any]], audit: Sequence[dict[str, Any]]
) -> None:
    """Note the transitions (history rows) and creations (audit rows) of one change."""
    info = session.info
    if info.get(METRICS_INFO_KEY) is None:
        return
    tally: list[Fact] = info.setdefault(_TALLY, [])
    for row in history:
        entity = row["entity_type"]
        tally.append(
            (
                "transition",
                bounded(entity, _ENTITIES),
                _ACTION_INTO.get(row["to_status"], "other"),
                bounded(row["source"], _SOURCES),
                bounded(row["reason"], KNOWN_REASONS),
            )
        )
    for row in audit:
        if row["action"] == "create":
            tally.append(("created", bounded(row["entity_type"], _ENTITIES)))


def note_inbound(session: Any, source: str, outcomes: Iterable[str]) -> None:
    info = session.info
    if info.get(METRICS_INFO_KEY) is None:
        return
    tally: list[Fact] = info.setdefault(_TALLY, [])
    label = bounded(source, INBOUND_SOURCES)
    tally.extend(("inbound", label, bounded(outcome, INBOUND_OUTCOMES)) for outcome in outcomes)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    facts = session.info.pop(_TALLY, None)
    session.info.pop(_MARKS, None)
    metrics: DomainMetrics | None = session.info.get(METRICS_INFO_KEY)
    if facts and metrics is not None:
        metrics.count(facts)


@event.listens_for(Session, "after_transaction_create")
def _begun(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and _TALLY in session.info:
        session.info.setdefault(_MARKS, {})[id(transaction)] = len(session.info[_TALLY])


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous: SessionTransaction) -> None:
    if previous.nested:
        # Only what the savepoint noted goes (a savepoint begun before any fact: all of it).
        mark = session.info.get(_MARKS, {}).pop(id(previous), 0)
        if _TALLY in session.info:
            del session.info[_TALLY][mark:]
    else:
        session.info.pop(_TALLY, None)
        session.info.pop(_MARKS, None)


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without after_commit (closed unfinished): drop its facts.
    if transaction.parent is None and not transaction.nested:
        session.info.pop(_TALLY, None)
        session.info.pop(_MARKS, None)
