"""The one action table for Experiments, Runs and CaptureSessions.

``draft → running → finished | failed``, and ``draft | finished | failed → archived``. A capture
session's ``stop`` is its ``finish``. Every transition anywhere in the code is checked against
:data:`TRANSITIONS` (:func:`plan_transition`), so an invalid one is refused the same way
everywhere; route summaries, event types and bulk actions are derived from it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from expsvc.errors import Conflict


class Status(StrEnum):
    draft = "draft"
    running = "running"
    finished = "finished"
    failed = "failed"
    archived = "archived"


class EntityKind(StrEnum):
    experiment = "experiment"
    run = "run"
    capture = "capture"

    @property
    def article(self) -> str:
        return "an" if self.value[0] in "aeiou" else "a"


class Action(StrEnum):
    start = "start"
    finish = "finish"
    stop = "stop"
    fail = "fail"
    archive = "archive"


class Source(StrEnum):
    """Who caused a transition: a user's request, a rule of the service, the worker, a neighbour."""

    user = "user"
    system = "system"
    worker = "worker"
    integration = "integration"


@dataclass(frozen=True)
class Transition:
    sources: frozenset[Status]
    target: Status


TRANSITIONS: dict[Action, Transition] = {
    Action.start: Transition(frozenset({Status.draft}), Status.running),
    Action.finish: Transition(frozenset({Status.running}), Status.finished),
    Action.stop: Transition(frozenset({Status.running}), Status.finished),
    Action.fail: Transition(frozenset({Status.running}), Status.failed),
    Action.archive: Transition(
        frozenset({Status.draft, Status.finished, Status.failed}), Status.archived
    ),
}

ACTIONS: dict[EntityKind, tuple[Action, ...]] = {
    EntityKind.experiment: (Action.start, Action.finish, Action.fail, Action.archive),
    EntityKind.run: (Action.start, Action.finish, Action.fail, Action.archive),
    EntityKind.capture: (Action.start, Action.stop, Action.fail, Action.archive),
}

TERMINAL = frozenset({Status.finished, Status.failed, Status.archived})

# Event names say what happened: ``run.started``, ``capture.stopped`` (docs/events.md).
PAST_TENSE: dict[Action, str] = {
    Action.start: "started",
    Action.finish: "finished",
    Action.stop: "stopped",
    Action.fail: "failed",
    Action.archive: "archived",
}
# Actions that need a reason (it becomes the entity's failure_reason).
REASON_REQUIRED = frozenset({Action.fail})


def transition_summary(action: Action) -> str:
    """``draft | finished | failed → archived``: the table's row for ``action``, in words."""
    transition = TRANSITIONS[action]
    sources = " | ".join(status for status in Status if status in transition.sources)
    required = " (reason required)" if action in REASON_REQUIRED else ""
    return f"{sources} → {transition.target}{required}"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Invalid status transition"


def allowed_actions(kind: EntityKind, current: Status) -> list[Action]:
    return [a for a in ACTIONS[kind] if current in TRANSITIONS[a].sources]


def allows(kind: EntityKind, action: Action, current: Status) -> bool:
    """Whether the table lets a ``current`` entity of ``kind`` take ``action``."""
    return action in ACTIONS[kind] and current in TRANSITIONS[action].sources


def plan_transition(kind: EntityKind, action: Action, current: Status) -> Status:
    """The status ``action`` leads to from ``current``; :class:`InvalidTransition` if none."""
    if not allows(kind, action, current):
        allowed = allowed_actions(kind, current)
        raise InvalidTransition(
            f"cannot {action} a {current} {kind}; allowed: {', '.join(allowed) or 'none'}",
            current_status=current,
            allowed_actions=allowed,
        )
    return TRANSITIONS[action].target


def timestamp_column(target: Status) -> str:
    """The timestamp a transition into ``target`` sets (never settable by clients)."""
    return {
        Status.running: "started_at",
        Status.finished: "finished_at",
        Status.failed: "finished_at",
        Status.archived: "archived_at",
    }[target]
