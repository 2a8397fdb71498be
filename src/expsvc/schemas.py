"""Input and output types shared by every feature, and their documented limits."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from expsvc.pagination import MAX_TOKEN_LENGTH

MAX_NAME_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 10_000
MAX_TAGS = 64
MAX_TAG_LENGTH = 64
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/=+@-]*$"
MAX_PARAMS_BYTES = 64 * 1024
MAX_PARTICIPANTS = 100
PRINCIPAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]*$"
MAX_SENSORS = 256
MAX_SENSOR_ID_LENGTH = 128
SENSOR_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


# PostgreSQL text and JSONB cannot hold NUL, and UTF-8 cannot encode a lone surrogate ("\ud800"
# is valid JSON); refused as input instead of failing in the database.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _find_unstorable(value: Any, path: str) -> str | None:
    """The JSON pointer of the first string (or key) PostgreSQL cannot store, if any."""
    if isinstance(value, str):
        return (path or "/") if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if found := _find_unstorable(key, f"{path}/{key}") or _find_unstorable(
                item, f"{path}/{key}"
            ):
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if found := _find_unstorable(item, f"{path}/{index}"):
                return found
    return None


class SortDirection(StrEnum):
    asc = "asc"
    desc = "desc"


class TotalMode(StrEnum):
    estimate = "estimate"
    exact = "exact"


class RequestModel(BaseModel):
    """Client input: unknown (and server-owned) fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_is_storable(cls, data: Any) -> Any:
        if found := _find_unstorable(data, ""):
            raise ValueError(f"text at {found!r} contains NUL (U+0000) or an unpaired surrogate")
        return data


class NullableFieldsGuard(RequestModel):
    """A partial update: fields listed in ``non_nullable`` may be omitted but not set to null."""

    non_nullable: ClassVar[tuple[str, ...]] = ("name", "tags", "params", "participants")

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> Self:
        for field in self.non_nullable:
            if field in self.model_fields_set and getattr(self, field, None) is None:
                raise ValueError(f"{field} cannot be null; omit it to leave it unchanged")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The document says what the validator does: a ``non_nullable`` field is optional but
        never ``null`` (``X | None = None`` would otherwise be declared ``anyOf [X, null]``)."""
        schema = handler(core_schema)
        properties = handler.resolve_ref_schema(schema).get("properties", {})
        for field in cls.non_nullable:
            declared = properties.get(field)
            if declared is not None:
                properties[field] = _without_null(declared)
        return schema


def _without_null(declared: dict[str, Any]) -> dict[str, Any]:
    choices = [c for c in declared.get("anyOf", []) if c != {"type": "null"}]
    if len(choices) != 1:
        return declared
    # The choice's own keywords first, then the property's (title, description, examples);
    # no "default": null on a field that cannot be null.
    rest = {k: v for k, v in declared.items() if k not in ("anyOf", "default")}
    return {**choices[0], **rest}


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    # True on answers that carry a secret: their stored Idempotency-Key copy is encrypted
    # (docs/adr/0011); every other stored answer skips that cost.
    holds_secret: ClassVar[bool] = False


def _unique_sorted(values: list[str]) -> list[str]:
    return sorted(set(values))


def _params_within_limit(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(value))
    except orjson.JSONEncodeError as error:  # e.g. an integer beyond 64 bits
        raise ValueError(f"params cannot be stored as JSON: {error}") from None
    if size > MAX_PARAMS_BYTES:
        raise ValueError(f"params is {size} bytes of JSON; the limit is {MAX_PARAMS_BYTES}")
    return value


# Tokens are unpadded base64url (expsvc.pagination): a string outside this shape never decodes.
PAGE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]+$"  # noqa: S105 - a pattern, not a secret
PageToken = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH, pattern=PAGE_TOKEN_PATTERN),
]


def _no_bare_number(value: Any) -> Any:
    # Lax pydantic reads a number ("0.5") as Unix seconds; the document promises RFC 3339.
    if isinstance(value, int | float) or (
        isinstance(value, str) and re.fullmatch(r"\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*", value)
    ):
        raise ValueError("expected an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")
    return value


# A date-time given as a query parameter: RFC 3339 text only.
Timestamp = Annotated[datetime, BeforeValidator(_no_bare_number)]

Name = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_LENGTH)]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_LENGTH, pattern=TAG_PATTERN),
]
Tags = Annotated[
    list[Tag],
    Field(max_length=MAX_TAGS, description="A set: duplicates are merged, order is not kept."),
    AfterValidator(_unique_sorted),
]
PrincipalId = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=PRINCIPAL_PATTERN)
]
Participants = Annotated[
    list[PrincipalId], Field(max_length=MAX_PARTICIPANTS), AfterValidator(_unique_sorted)
]
Params = Annotated[
    dict[str, Any],
    Field(
        description=f"Free-form JSON object, at most {MAX_PARAMS_BYTES} bytes serialised; its "
        "integers within 64 bits (-2^63 to 2^64 - 1), as RFC 8259 section 6 allows."
    ),
    AfterValidator(_params_within_limit),
]
SensorId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_SENSOR_ID_LENGTH, pattern=SENSOR_ID_PATTERN),
    Field(description="A sensor id as Telemetry Ingest names it."),
]
Sensors = Annotated[
    list[SensorId],
    Field(
        max_length=MAX_SENSORS,
        description="A set: duplicates are merged and the ids sorted.",
    ),
    AfterValidator(_unique_sorted),
]


Reason = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class TransitionRequest(RequestModel):
    """Optional body of a lifecycle action."""

    reason: Reason | None = Field(default=None, description="Recorded in the status history.")


class FailRequest(RequestModel):
    """Body of a ``fail`` action."""

    reason: Reason = Field(description="Why it failed; stored as failure_reason.")
