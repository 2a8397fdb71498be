from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, Field, StringConstraints

from expsvc.event.catalogue import EVENT_TYPES
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.schemas import NullableFieldsGuard, PageToken, RequestModel, ResponseModel
from expsvc.webhook.targets import check_url

MAX_URL_LENGTH = 2048
MAX_WEBHOOK_DESCRIPTION_LENGTH = 1000
MAX_WEBHOOK_EXPERIMENTS = 100


def _known_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"unknown event type {value!r}; known: {', '.join(EVENT_TYPES)}")
    return value


_Item = TypeVar("_Item", str, uuid.UUID)


def _unique_sorted(values: list[_Item]) -> list[_Item]:
    return sorted(set(values))


EventType = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_known_event_type),
    Field(json_schema_extra={"enum": list(EVENT_TYPES)}),
]
EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=len(EVENT_TYPES),
        description="Event types to deliver (a set); empty: every type.",
    ),
    AfterValidator(_unique_sorted),
]
ExperimentIds = Annotated[
    list[uuid.UUID],
    Field(
        max_length=MAX_WEBHOOK_EXPERIMENTS,
        description="Deliver only events of these experiments (a set): the experiment's own and "
        "its runs' and captures'. Each must be an experiment the caller may read; empty: every "
        "experiment the owner may read.",
    ),
    AfterValidator(_unique_sorted),
]
# The URLs check_url accepts, declared (check_url decides; whether the host resolves to public
# addresses is DNS at request time). Host names in DNS syntax (underscores and a final dot
# included), IPv4 and IPv6 literals; any path and query of printable characters, no fragment.
# Labels: letters, digits, "_" and inner "-"; Unicode letters too (an internationalized name,
# which httpx turns into its xn-- form; IDNA's own rules on it are the server's to apply).
_LABEL_CHAR = "A-Za-z0-9_\\u00a1-\\uffff"
_LABEL = f"[{_LABEL_CHAR}]([{_LABEL_CHAR}-]{{0,61}}[{_LABEL_CHAR}])?"
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_LS32 = f"({_H16}:{_H16}|{_IPV4})"
# RFC 3986's IPv6address, alternative by alternative.
_IPV6 = "|".join(
    [
        f"({_H16}:){{6}}{_LS32}",
        f"::({_H16}:){{5}}{_LS32}",
        f"({_H16})?::({_H16}:){{4}}{_LS32}",
        f"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}",
        f"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
        f"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        f"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
        f"(({_H16}:){{0,5}}{_H16})?::{_H16}",
        f"(({_H16}:){{0,6}}{_H16})?::",
    ]
)
_HOST = rf"(\[({_IPV6})\]|{_LABEL}(\.{_LABEL})*\.?)"
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://{_HOST}(:{_PORT}?)?([/?][^#\x00-\x20\x7f]*)?$"
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    AfterValidator(check_url),
    Field(
        # Declared only (check_url decides): http(s), a host name, IPv4 or IPv6 address, a
        # port, no credentials, no fragment.
        json_schema_extra={"pattern": URL_PATTERN},
        description="http(s) URL receiving POSTs. Private, loopback and link-local targets are "
        "refused unless the service allows them.",
        examples=["https://hooks.example.com/expsvc"],
    ),
]
WebhookDescription = Annotated[str, StringConstraints(max_length=MAX_WEBHOOK_DESCRIPTION_LENGTH)]


class WebhookCreate(RequestModel):
    url: WebhookUrl
    event_types: EventTypes = Field(default_factory=list)
    experiment_ids: ExperimentIds = Field(default_factory=list)
    description: WebhookDescription = ""
    active: bool = True


class WebhookUpdate(NullableFieldsGuard):
    """Only the fields present change. ``active: true`` re-enables a disabled endpoint."""

    non_nullable: ClassVar[tuple[str, ...]] = (
        "url",
        "event_types",
        "experiment_ids",
        "description",
        "active",
    )

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    experiment_ids: ExperimentIds | None = None
    description: WebhookDescription | None = None
    active: bool | None = None


class WebhookRead(ResponseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    experiment_ids: list[uuid.UUID]
    description: str
    active: bool
    disabled_reason: str | None = Field(
        description="Why the service disabled the endpoint (410 Gone, failing too long); null "
        "when active or deactivated by a client."
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="Start of the current run of failed attempts; null after a success."
    )
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, requests are also signed with the secret before the last rotation."
    )
    created_by: str
    owner_groups: list[str] = Field(
        description="The groups its owner held when it last created or changed the webhook: "
        "roles granted to them count for deliveries. A change by the owner (an empty PATCH "
        "will do) refreshes them; a change by an admin leaves them."
    )
    created_at: datetime
    updated_at: datetime
    version: int


class WebhookWithSecret(WebhookRead):
    holds_secret: ClassVar[bool] = True

    secret: str = Field(
        description="Signing secret (Standard Webhooks, `whsec_…`). Shown only in this answer: "
        "store it now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookPage(ResponseModel):
    items: list[WebhookRead]
    next_page_token: str | None


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivering = "delivering"
    succeeded = "succeeded"
    failed = "failed"
    abandoned = "abandoned"


class DeliveryAttemptRead(ResponseModel):
    attempt: int = Field(description="1 for the first attempt of the delivery.")
    manual: bool = Field(description="Requested by a redelivery.")
    started_at: datetime
    duration_ms: int
    status_code: int | None = Field(description="The receiver's status; null when none came.")
    error: str | None = Field(description="Why the attempt failed; null on success.")
    response_body: str | None = Field(description="The start of the receiver's answer.")


class DeliveryRead(ResponseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="The CloudEvents id: `webhook-id` on every attempt.")
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    max_attempts: int
    next_attempt_at: datetime | None = Field(
        description="When it is due (pending), or its worker's lease ends (delivering)."
    )
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any] = Field(description="The request body: the CloudEvent.")
    attempts: list[DeliveryAttemptRead] = Field(description="Oldest first.")


class DeliveryPage(ResponseModel):
    items: list[DeliveryRead]
    next_page_token: str | None


class DeliveryQuery(RequestModel):
    status: list[DeliveryStatus] = Field(default_factory=list, max_length=len(DeliveryStatus))
    page_size: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    page_token: PageToken | None = None
