"""CloudEvents 1.0 (structured JSON) envelopes, built from outbox rows when published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from expsvc.event.catalogue import SCHEMA_VERSION

CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json"
_COLLECTIONS = {"experiment": "experiments", "run": "runs", "capture": "captures"}


def cloudevent(row: Row[Any], source: str) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(row.event_id),
        "source": source,
        "type": row.type,
        "subject": f"{_COLLECTIONS[row.entity_type]}/{row.entity_id}",
        "time": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "schemaversion": SCHEMA_VERSION,
        "sequence": str(row.seq),
        "data": row.data,
    }
    if row.traceparent:
        envelope["traceparent"] = row.traceparent
    return envelope
