"""What an export asks for: the list's own filters, a format, the fields and where to resume.

Each export's query is the list's filter model plus :class:`ExportOptions`, so a filter added to
``RunFilter`` or ``ExperimentFilter`` is an export filter too, with the same meaning.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, StringConstraints, field_validator

from expsvc.experiment.schemas import ExperimentFilter, ExperimentRead
from expsvc.run.schemas import RunFilter, RunRead
from expsvc.schemas import RequestModel


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"
    json = "json"


class ExportOptions(RequestModel):
    """How to export: the format, which fields and where to resume."""

    read_model: ClassVar[type[BaseModel]]

    format: ExportFormat = Field(
        default=ExportFormat.jsonl,
        description=(
            "jsonl: one JSON object a line; json: one JSON array; csv: RFC 4180 with a header "
            "row, JSON-valued fields as JSON text, cells a spreadsheet would run as a formula "
            "prefixed with an apostrophe."
        ),
    )
    fields: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None,
        description=(
            "Comma-separated fields to export, in this order (default: every field of the "
            "entity as the API shows it). An unknown field is refused (422)."
        ),
        examples=["id,name,status,params"],
    )
    after: uuid.UUID | None = Field(
        default=None,
        description=(
            "Resume key: export only what comes after this id. Exports are in id order, so "
            "the id of the last record received continues an interrupted export."
        ),
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: str | None) -> str | None:
        if value is None:
            return None
        names = [name.strip() for name in value.split(",")]
        known = cls.read_model.model_fields
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(
                f"unknown field {', '.join(repr(name) for name in unknown)}; "
                f"known: {', '.join(known)}"
            )
        return ",".join(dict.fromkeys(names))  # repeated names once

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        read_model = cls.__dict__.get("read_model")
        if read_model is not None:
            # The document names the fields the validator knows (before: any text).
            known = "|".join(re.escape(name) for name in read_model.model_fields)
            field = f" *({known}) *"
            cls.model_fields["fields"].json_schema_extra = {"pattern": f"^{field}(,{field})*$"}
            cls.model_rebuild(force=True)

    def columns(self) -> tuple[str, ...]:
        """The fields exported, in order."""
        if self.fields is None:
            return tuple(self.read_model.model_fields)
        return tuple(self.fields.split(","))


class RunExport(ExportOptions, RunFilter):
    """Query of ``GET /v1/runs/export``: the filters of ``GET /v1/runs`` and the export's
    options."""

    read_model = RunRead


class ExperimentExport(ExportOptions, ExperimentFilter):
    """Query of ``GET /v1/experiments/export``: the filters of ``GET /v1/experiments`` and the
    export's options."""

    read_model = ExperimentRead
