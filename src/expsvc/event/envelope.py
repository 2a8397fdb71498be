"""CloudEvents 1.0 (structured JSON) envelopes, built from outbox rows when published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from expsvc.event.versions import EVENT_VERSIONS, EventVersions, dataschema

CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json"
_COLLECTIONS = {"experiment": "experiments", "run": "runs", "capture": "captures"}


def cloudevent(
    row: Row[Any], source: str, versions: EventVersions = EVENT_VERSIONS
) -> dict[str, Any]:
    """The envelope of an outbox row, in its type's newest data version (older versions:
    :meth:`EventVersions.render`)."""
    version = versions.newest(row.type)
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(row.event_id),
        "source": source,
        "type": row.type,
        "subject": f"{_COLLECTIONS[row.entity_type]}/{row.entity_id}",
        "time": row.occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "schemaversion": str(version),
        "dataschema": dataschema(row.type, version),
        "sequence": str(row.seq),
        "data": row.data,
    }
    if row.traceparent:
        envelope["traceparent"] = row.traceparent
    return envelope
