"""docs/events.md stays true: an example of every event type, each a valid envelope."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from expsvc.event.catalogue import EVENT_TYPES, SCHEMA_VERSION
from expsvc.event.schemas import CloudEvent

DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
EXAMPLES = dict(re.findall(r"### `([a-z]+\.[a-z_]+)`\n\n```json\n(.*?)\n```", DOC, flags=re.DOTALL))


def test_the_doc_has_examples_of_known_types_only() -> None:
    assert set(EXAMPLES) <= set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_a_valid_example(event_type: str) -> None:
    assert event_type in EXAMPLES, f"docs/events.md has no example of {event_type}"
    event = CloudEvent.model_validate(json.loads(EXAMPLES[event_type]))
    assert event.type == event_type
    assert event.schemaversion == SCHEMA_VERSION
    kind = event_type.split(".")[0]
    collection = {"experiment": "experiments", "run": "runs", "capture": "captures"}[kind]
    assert event.subject == f"{collection}/{event.data[kind]['id']}"
    assert {"actor", "source"} <= set(event.data)
    assert f"| `{event_type}` |" in DOC  # and a row in the catalogue table
