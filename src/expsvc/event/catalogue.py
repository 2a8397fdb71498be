"""Every event type the service emits (documented with examples in docs/events.md)."""

from __future__ import annotations

from expsvc.lifecycle import ACTIONS, PAST_TENSE, Action, EntityKind

SCHEMA_VERSION = "1"


def transition_event(kind: EntityKind, action: Action) -> str:
    """``run.started``, ``capture.stopped`` ... (the roadmap's names, exactly)."""
    return f"{kind.value}.{PAST_TENSE[action]}"


def created_event(kind: EntityKind) -> str:
    return f"{kind.value}.created"


def updated_event(kind: EntityKind) -> str:
    return f"{kind.value}.updated"


def deleted_event(kind: EntityKind) -> str:
    return f"{kind.value}.deleted"


# Changes of a run's artifact links, reported by the Artifact Service (docs/integrations.md).
RUN_ARTIFACT_EVENTS = ("run.artifact_linked", "run.artifact_updated")

EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        set(RUN_ARTIFACT_EVENTS)
        | {created_event(kind) for kind in EntityKind}
        | {updated_event(kind) for kind in EntityKind}
        | {deleted_event(EntityKind.experiment)}
        | {
            transition_event(kind, action)
            for kind, actions in ACTIONS.items()
            for action in actions
        }
    )
)
