"""Webhook endpoints (subscriptions), their secrets and their delivery log, for the API.

Every change (create, update, delete, secret rotation, redelivery) is an audit row in its
transaction, entity type ``webhook``; the row shows what the API shows of the webhook, never a
secret (not even encrypted).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, func
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc.audit.schemas import AuditedEntity
from expsvc.audit.service import AuditService, Changes
from expsvc.auth.principal import Principal
from expsvc.changes import field_changes
from expsvc.concurrency import ExpectedVersions
from expsvc.context import ActionContext
from expsvc.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from expsvc.experiment.repository import ExperimentRepository
from expsvc.ids import new_id
from expsvc.pagination import Ordering, PageRequest
from expsvc.secret.box import SecretBox
from expsvc.webhook.repository import DeliveryRepository, WebhookRepository
from expsvc.webhook.schemas import (
    DeliveryAttemptRead,
    DeliveryPage,
    DeliveryQuery,
    DeliveryRead,
    WebhookCreate,
    WebhookPage,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from expsvc.webhook.signing import new_secret
from expsvc.webhook.targets import TargetRefused, resolve

_NEWEST_FIRST = Ordering("created_at", descending=True)
# Bookkeeping, not configuration: left out of audit rows, as for the other entities.
_NOT_AUDITED = frozenset({"id", "version", "updated_at"})


class WebhookNotFound(NotFound):
    slug, title = "webhook-not-found", "Webhook not found"

    def __init__(self, webhook_id: uuid.UUID) -> None:
        super().__init__(f"webhook {webhook_id} does not exist", webhook_id=webhook_id)


class WebhookDeliveryNotFound(NotFound):
    slug, title = "webhook-delivery-not-found", "Webhook delivery not found"

    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__(
            f"delivery {delivery_id} does not exist for this webhook", delivery_id=delivery_id
        )


class WebhookUrlNotAllowed(ValidationFailed):
    slug, title = "webhook-url-not-allowed", "Webhook URL not allowed"

    def __init__(self, reason: str) -> None:
        super().__init__(
            reason,
            errors=[{"pointer": "/body/url", "message": reason, "code": "url_not_allowed"}],
        )


class WebhookExperimentsNotFound(ValidationFailed):
    slug, title = "webhook-experiments-not-found", "Webhook experiments not found"

    def __init__(self, missing: list[uuid.UUID]) -> None:
        names = ", ".join(str(experiment_id) for experiment_id in missing)
        reason = f"no experiment you may read has the id {names}"
        super().__init__(
            reason,
            errors=[{"pointer": "/body/experiment_ids", "message": reason, "code": "not_found"}],
            experiment_ids=[str(experiment_id) for experiment_id in missing],
        )


class WebhookInactive(Conflict):
    slug, title = "webhook-inactive", "Webhook is inactive"


class WebhookDeliveryInProgress(Conflict):
    slug, title = "webhook-delivery-in-progress", "Webhook delivery in progress"


class WebhookLimitReached(Conflict):
    slug, title = "webhook-limit-reached", "Too many webhooks"


class WebhookService:
    """Webhooks belong to their creator: only the owner (or an admin) sees, changes, rotates
    or redelivers one; to anyone else it does not exist (404)."""

    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        allow_private_targets: bool,
        secret_overlap: timedelta,
        box: SecretBox,
        max_per_owner: int,
    ) -> None:
        self.endpoints = WebhookRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.audit = AuditService(session)
        self.experiments = ExperimentRepository(session)
        self.principal = principal
        self.allow_private_targets = allow_private_targets
        self.secret_overlap = secret_overlap
        self.box = box
        self.max_per_owner = max_per_owner

    async def create(self, context: ActionContext, data: WebhookCreate) -> WebhookWithSecret:
        """Stores the new secret encrypted; the answer shows it in clear, once."""
        await self._check_target(data.url)
        await self._check_experiments(data.experiment_ids)
        owned = await self.endpoints.count_owned(context.actor)
        if owned >= self.max_per_owner:
            raise WebhookLimitReached(
                f"{context.actor} owns {owned} webhooks, the most one principal may "
                "(EXPSVC_WEBHOOK_MAX_PER_OWNER); delete one first",
                limit=self.max_per_owner,
            )
        secret = new_secret()
        row = await self.endpoints.insert(
            {
                "id": new_id(),
                "created_by": context.actor,
                "owner_groups": sorted(self.principal.groups),
                "secret": self.box.seal_text(secret),
                **data.model_dump(),
            }
        )
        await self._record(context, "create", row.id, _audited(None, row))
        return _with_secret(row, secret)

    async def get(self, webhook_id: uuid.UUID) -> WebhookRead:
        return WebhookRead.model_validate(await self._row(webhook_id))

    async def search(self, page_size: int, page_token: str | None) -> WebhookPage:
        page = PageRequest(_NEWEST_FIRST, {}, page_size, page_token)
        owner = None if self.principal.is_admin else self.principal.id
        rows = await self.endpoints.search(page.ordering, page.after(), page_size + 1, owner)
        return WebhookPage(
            items=[WebhookRead.model_validate(row) for row in rows[:page_size]],
            next_page_token=page.next_token(rows),
        )

    async def update(
        self,
        context: ActionContext,
        webhook_id: uuid.UUID,
        data: WebhookUpdate,
        expected: ExpectedVersions,
    ) -> WebhookRead:
        """Change the fields present; ``active: true`` also clears the disabled state."""
        before = await self._row(webhook_id, lock=True)  # the owner's (or an admin's), else 404
        values: dict[str, Any] = data.model_dump(exclude_unset=True)
        if "url" in values:
            await self._check_target(values["url"])
        if "experiment_ids" in values:
            await self._check_experiments(values["experiment_ids"])
        if values.get("active") is True:
            values.update(disabled_reason=None, disabled_at=None, failing_since=None)
        elif values.get("active") is False:
            values.update(disabled_at=func.now())
        if before.created_by == self.principal.id:  # not an admin's groups on another's webhook
            values["owner_groups"] = sorted(self.principal.groups)
        row = await self.endpoints.update(webhook_id, values, expected.versions)
        if row is None:
            raise await self._stale(webhook_id)
        if not row.active:
            await self.deliveries.abandon_in_flight(webhook_id, "the webhook was deactivated")
        await self._record(context, "update", webhook_id, _audited(before, row))
        return WebhookRead.model_validate(row)

    async def delete(
        self, context: ActionContext, webhook_id: uuid.UUID, expected: ExpectedVersions
    ) -> None:
        """Deletes its deliveries too; an attempt in flight completes but is not recorded."""
        before = await self._row(webhook_id, lock=True)
        if await self.endpoints.delete(webhook_id, expected.versions) is None:
            raise await self._stale(webhook_id)
        await self._record(context, "delete", webhook_id, _audited(before, None))

    async def rotate_secret(
        self, context: ActionContext, webhook_id: uuid.UUID, expected: ExpectedVersions
    ) -> WebhookWithSecret:
        """A new secret (stored encrypted, shown once); the current one keeps signing beside it
        for the overlap. The audit row shows when the previous one stops signing, not the
        secrets."""
        before = await self._row(webhook_id, lock=True)
        secret = new_secret()
        row = await self.endpoints.rotate(
            webhook_id, self.box.seal_text(secret), self.secret_overlap, expected.versions
        )
        if row is None:
            raise await self._stale(webhook_id)
        await self._record(context, "rotate_secret", webhook_id, _audited(before, row))
        return _with_secret(row, secret)

    async def list_deliveries(self, webhook_id: uuid.UUID, query: DeliveryQuery) -> DeliveryPage:
        await self._row(webhook_id)
        statuses = sorted({status.value for status in query.status})
        page = PageRequest(_NEWEST_FIRST, {"status": statuses}, query.page_size, query.page_token)
        rows = await self.deliveries.search(
            webhook_id, statuses, page.ordering, page.after(), query.page_size + 1
        )
        attempts = await self.deliveries.attempts_of([row.id for row in rows[: query.page_size]])
        return DeliveryPage(
            items=[_delivery(row, attempts[row.id]) for row in rows[: query.page_size]],
            next_page_token=page.next_token(rows),
        )

    async def get_delivery(self, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRead:
        await self._row(webhook_id)
        row = await self.deliveries.get_of(webhook_id, delivery_id)
        if row is None:
            await self._row(webhook_id)
            raise WebhookDeliveryNotFound(delivery_id)
        attempts = await self.deliveries.attempts_of([delivery_id])
        return _delivery(row, attempts[delivery_id])

    async def redeliver(
        self, context: ActionContext, webhook_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> DeliveryRead:
        """One more attempt now, with the same ``webhook-id``. A pending delivery keeps its
        remaining retries; a finished one gets this single attempt."""
        # Endpoint before delivery: the order in which the worker locks them.
        endpoint = await self.endpoints.lock(webhook_id, shared=True)
        if endpoint is None or not self._owns(endpoint):
            raise WebhookNotFound(webhook_id)
        if not endpoint.active:
            raise WebhookInactive(
                f"webhook {webhook_id} is inactive; re-activate it (PATCH active: true) first",
                disabled_reason=endpoint.disabled_reason,
            )
        delivery = await self.deliveries.lock(delivery_id)
        if delivery is None or delivery.endpoint_id != webhook_id:
            raise WebhookDeliveryNotFound(delivery_id)
        if delivery.status == "delivering":
            raise WebhookDeliveryInProgress(
                f"delivery {delivery_id} is being attempted now; its outcome will be in the log"
            )
        limit = delivery.max_attempts if delivery.status == "pending" else delivery.attempts + 1
        row = await self.deliveries.redeliver(delivery_id, limit)
        await self.deliveries.notify()
        changes = {f"delivery:{delivery_id}": _redelivered(delivery, row)}
        await self._record(context, "redeliver", webhook_id, changes)
        return _delivery(row, (await self.deliveries.attempts_of([delivery_id]))[delivery_id])

    async def _row(self, webhook_id: uuid.UUID, *, lock: bool = False) -> Row[Any]:
        """The webhook, if it is the caller's (or the caller an admin); else 404, as if it did
        not exist. Its owner never changes, so checking before a write is as good as in it;
        ``lock`` holds it until the write, so the audit row's "before" is what was changed."""
        row = await (self.endpoints.lock(webhook_id) if lock else self.endpoints.get(webhook_id))
        if row is None or not self._owns(row):
            raise WebhookNotFound(webhook_id)
        return row

    async def _record(
        self, context: ActionContext, action: str, webhook_id: uuid.UUID, changes: Changes
    ) -> None:
        await self.audit.record(action, AuditedEntity.webhook, [(webhook_id, changes)], context)

    def _owns(self, row: Row[Any]) -> bool:
        return self.principal.is_admin or row.created_by == self.principal.id

    async def _stale(self, webhook_id: uuid.UUID) -> PreconditionFailed:
        """The error for a write that matched no row: 404, or 412 with the current version."""
        current = await self._row(webhook_id)
        return PreconditionFailed(
            f"webhook {webhook_id} is at version {current.version}",
            current_version=current.version,
        )

    async def _check_experiments(self, experiment_ids: list[uuid.UUID]) -> None:
        """Each must be an experiment the caller may read (a missing one and one it may not read
        are the same answer). Checked when the filter is set; each event is checked again at
        fan-out against the owner's grants then."""
        if not experiment_ids:
            return
        readable = await self.experiments.readable_ids(experiment_ids, self.principal)
        missing = [
            experiment_id for experiment_id in experiment_ids if experiment_id not in readable
        ]
        if missing:
            raise WebhookExperimentsNotFound(missing)

    async def _check_target(self, url: str) -> None:
        try:
            await resolve(url, allow_private=self.allow_private_targets)
        except TargetRefused as refused:
            raise WebhookUrlNotAllowed(str(refused)) from None


def _audited(before: Row[Any] | None, after: Row[Any] | None) -> Changes:
    """The fields that differ, as the API shows a webhook (``WebhookRead``: no secret, not
    even encrypted), without the bookkeeping."""
    old, new = (
        None if row is None else WebhookRead.model_validate(row).model_dump(mode="json")
        for row in (before, after)
    )
    fields = [field for field in (new or old or {}) if field not in _NOT_AUDITED]
    return field_changes(old, new, fields)


def _redelivered(before: Row[Any], after: Row[Any]) -> dict[str, Any]:
    """A redelivered delivery's state that the redelivery sets, before and after."""
    keys = ("status", "max_attempts")
    return {
        "before": {key: before._mapping[key] for key in keys},
        "after": {key: after._mapping[key] for key in keys},
    }


def _with_secret(row: Row[Any], secret: str) -> WebhookWithSecret:
    """The answer of a create or rotation: the row, with the clear secret instead of its
    stored (encrypted) form."""
    return WebhookWithSecret.model_validate({**row._mapping, "secret": secret})


def _delivery(row: Row[Any], attempts: list[Row[Any]]) -> DeliveryRead:
    return DeliveryRead(
        id=row.id,
        webhook_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempt_count=row.attempts,
        max_attempts=row.max_attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        payload=row.payload,
        attempts=[DeliveryAttemptRead.model_validate(attempt) for attempt in attempts],
    )
