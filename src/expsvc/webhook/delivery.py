"""The delivery worker: claims due deliveries, sends them, records each attempt, reschedules.

Any number of workers may run (``expsvc serve`` with the relay on, ``expsvc worker``); they
coordinate only through PostgreSQL:

- **claim**: due rows are taken ``FOR UPDATE SKIP LOCKED`` and marked ``delivering`` under a
  lease (``next_attempt_at`` = now + timeout + 60 s) in a short transaction that commits before
  any request is sent. Fairly: each endpoint's oldest due rows first, round-robin over the
  endpoints, never more than ``EXPSVC_WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT`` of one endpoint
  in flight over all workers, so a slow or hanging receiver cannot take every slot. A worker
  that dies mid-attempt leaves its deliveries due again when the lease ends (at least once;
  receivers dedupe on ``webhook-id``).
- **send**: the endpoint's secrets are stored encrypted (docs/adr/0011) and opened here, just
  before signing; a secret stored in clear (before encryption, or by the previous release during
  a rollout) signs as it is. One no configured key opens is a failed attempt, nothing is sent.
- **record**: in one transaction, the endpoint row then the delivery row are locked, the attempt
  is logged and the next state applied (see :mod:`expsvc.webhook.policy`).

Woken by ``NOTIFY expsvc_webhooks`` (fan-out, redelivery) and otherwise sleeps until the next
delivery is due, at most ``poll_interval`` seconds (work another process scheduled, a lost
notification).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from expsvc import jitter
from expsvc.audit.schemas import AuditedEntity
from expsvc.audit.service import AuditService
from expsvc.auth.principal import WEBHOOK_DELIVERY
from expsvc.context import ActionContext
from expsvc.db import Database
from expsvc.lifecycle import Source
from expsvc.observability.tracing import linked_span
from expsvc.secret.box import SecretBox, SecretUndecryptable
from expsvc.webhook.audience import NO_ADMINS, WebhookAdmins, readable_events
from expsvc.webhook.metrics import WebhookMetrics
from expsvc.webhook.policy import Decision, DeliveryPolicy, Outcome
from expsvc.webhook.repository import (
    DELIVERY_CHANNEL,
    FINISHED,
    DeliveryRepository,
    WebhookRepository,
)
from expsvc.webhook.sender import WebhookSender, new_client

_log = structlog.get_logger("expsvc.webhooks")

_MIN_SLEEP = 0.05
_GAUGE_INTERVAL = 5.0
_PURGE_INTERVAL = 600.0
_PURGE_BATCH = 1000
# Most seconds one housekeeping turn spends purging; a purge still behind then goes on at the
# next idle turn, without the interval. Only on a schema before 0025: on partitioned deliveries
# the partition job drops whole months instead (docs/adr/0020).
_PURGE_BUDGET = 2.0
UNDECRYPTABLE = (
    "the webhook's signing secret cannot be decrypted with the configured keys; nothing was "
    "sent (the operator must restore the key it was encrypted with: EXPSVC_SECRET_KEYS)"
)


_OWNER_MAY_NOT_READ = "the webhook's owner may no longer read this event's experiment"
# The worker's own decisions (disabling a webhook) are audit rows under its own name.
_WORKER_CONTEXT = ActionContext(principal=WEBHOOK_DELIVERY, request_id=None, source=Source.worker)


@dataclass(frozen=True)
class Claimed:
    delivery: Row[Any]
    endpoint: Row[Any]


class WebhookDeliverer:
    def __init__(
        self,
        database: Database,
        policy: DeliveryPolicy,
        metrics: WebhookMetrics,
        box: SecretBox,
        *,
        admins: WebhookAdmins = NO_ADMINS,
        concurrency: int = 16,
        poll_interval: float = 30.0,
    ) -> None:
        self.database = database
        self.admins = admins
        self.policy = policy
        self.metrics = metrics
        self.box = box
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_gauge = 0.0
        self._next_purge = 0.0

    async def run(self) -> None:
        """Deliver until cancelled; attempts in flight are cancelled (their leases expire)."""
        async with new_client(self.policy.timeout) as client:
            sender = WebhookSender(client, self.policy.timeout, self.policy.allow_private_targets)
            unsubscribe = self.database.listener.subscribe(DELIVERY_CHANNEL, self._wake.set)
            try:
                await self._deliver_forever(sender)
            finally:
                unsubscribe()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver_forever(self, sender: WebhookSender) -> None:
        failures = 0
        while True:
            try:
                started = await self.deliver_due(sender)
                failures = 0
            except Exception as error:
                failures += 1
                _log.warning("claiming webhook deliveries failed", error=repr(error))
                await asyncio.sleep(jitter.backoff(failures, base=0.2))
                continue
            if started:
                continue
            await self._housekeeping()
            await self._sleep(await self._idle_seconds())

    async def deliver_due(self, sender: WebhookSender) -> int:
        """Claim due deliveries up to the free capacity and start sending them."""
        free = self.concurrency - len(self._tasks)
        if free <= 0:
            return 0
        claimed = await self.claim(free)
        for item in claimed:
            task = asyncio.create_task(self.attempt(sender, item), name="webhook-attempt")
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def claim(self, limit: int) -> list[Claimed]:
        async with self.database.sessionmaker() as session, session.begin():
            rows = await DeliveryRepository(session).claim(
                limit, self.policy.lease, self.policy.max_in_flight_per_endpoint
            )
            if not rows:
                return []
            webhooks = WebhookRepository(session)
            endpoints = await webhooks.signing_view(list({row.endpoint_id for row in rows}))
            # Checked again before each attempt: a grant revoked since the fan-out stops it.
            allowed = await readable_events(
                session,
                sorted({_sequence(row) for row in rows}),
                endpoints.values(),
                self.admins,
            )
            refused = [row.id for row in rows if (_sequence(row), row.endpoint_id) not in allowed]
            if refused:
                await DeliveryRepository(session).abandon(refused, _OWNER_MAY_NOT_READ)
        return [Claimed(row, endpoints[row.endpoint_id]) for row in rows if row.id not in refused]

    async def attempt(self, sender: WebhookSender, claimed: Claimed) -> None:
        delivery, endpoint = claimed.delivery, claimed.endpoint
        if endpoint.active:
            outcome = await self._send(sender, delivery, endpoint)
        else:  # disabled after the fan-out wrote this delivery: nothing is sent
            outcome = Outcome(started_at=delivery.last_attempt_at, duration_ms=0, error="inactive")
        try:
            await self.record(delivery, outcome, sent=endpoint.active)
        except Exception as error:
            # The lease runs out and the delivery is attempted again.
            _log.warning("recording a webhook attempt failed", error=repr(error))

    async def _send(self, sender: WebhookSender, delivery: Row[Any], endpoint: Row[Any]) -> Outcome:
        try:
            secrets = [
                self.box.open_text(stored)
                for stored in (endpoint.secret, endpoint.previous_secret)
                if stored is not None
            ]
        except SecretUndecryptable:  # logged by the box; the attempt log says it to the client
            return Outcome(started_at=datetime.now(UTC), duration_ms=0, error=UNDECRYPTABLE)
        with linked_span(
            "webhook delivery attempt",
            [delivery.payload.get("traceparent")],
            webhook_id=endpoint.id,
            attempt=delivery.attempts,
        ):
            outcome = await sender.send(
                endpoint.url, secrets, str(delivery.event_id), delivery.payload
            )
        self.metrics.attempts.inc()
        self.metrics.duration.observe(outcome.duration_ms / 1000)
        return outcome

    async def record(self, delivery: Row[Any], outcome: Outcome, *, sent: bool = True) -> None:
        async with self.database.sessionmaker() as session, session.begin():
            endpoints, deliveries = WebhookRepository(session), DeliveryRepository(session)
            # Endpoint first, then delivery: the order every writer of both takes.
            endpoint = await endpoints.lock(delivery.endpoint_id)
            current = await deliveries.lock(delivery.id)
            if endpoint is None or current is None:
                return  # deleted meanwhile
            if sent:
                await deliveries.add_attempt(_attempt_row(delivery, outcome))
            if current.status != "delivering" or current.attempts != delivery.attempts:
                return  # our lease ran out and another worker has taken over
            now = await deliveries.now()
            decision = self.policy.decide(
                outcome,
                attempts=current.attempts,
                max_attempts=current.max_attempts,
                active=endpoint.active,
                failing_since=endpoint.failing_since,
                now=now,
            )
            if decision.disable is not None:
                await _disable(session, endpoint, decision.disable)
                await deliveries.abandon_in_flight(
                    endpoint.id, f"the webhook was disabled: {decision.disable}"
                )
            if decision.failing_since != endpoint.failing_since:
                await endpoints.set_failing_since(endpoint.id, decision.failing_since)
            await deliveries.set_state(delivery.id, **_state(decision, outcome, now))
        self._count(outcome, decision, sent)

    def _count(self, outcome: Outcome, decision: Decision, sent: bool) -> None:
        if sent and not outcome.succeeded:
            self.metrics.attempt_failures.inc()
        if decision.status in FINISHED:  # succeeded, failed or abandoned
            self.metrics.deliveries.labels(decision.status).inc()
        if decision.disable is not None:
            self.metrics.disabled.inc()
            _log.warning("webhook disabled", reason=decision.disable)

    # --- idle time ----------------------------------------------------------------------------

    async def _idle_seconds(self) -> float:
        if len(self._tasks) >= self.concurrency:
            return self.poll_interval  # a finishing attempt wakes us
        async with self.database.sessionmaker() as session:
            due_in = await DeliveryRepository(session).seconds_until_due()
        if due_in is None:
            return self.poll_interval
        return min(self.poll_interval, max(_MIN_SLEEP, due_in))

    async def _housekeeping(self) -> None:
        """Refresh the pending gauge and purge old deliveries, each at its own pace."""
        now = time.monotonic()
        try:
            if now >= self._next_gauge:
                self._next_gauge = now + _GAUGE_INTERVAL
                async with self.database.sessionmaker() as session:
                    pending, age = await DeliveryRepository(session).in_flight_summary()
                self.metrics.pending.set(pending)
                self.metrics.oldest_pending_age.set(age)
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_INTERVAL
                if await self.purge(_PURGE_BUDGET):
                    self._next_purge = now
                    self._wake.set()  # behind: the next turn comes without the idle sleep
        except Exception as error:
            _log.warning("webhook housekeeping failed", error=repr(error))

    async def purge(self, budget: float) -> bool:
        """Delete finished deliveries past retention, a batch per transaction, until one comes
        back short or ``budget`` seconds are spent; whether some are left. Keeps up with any
        rate of deliveries the database can delete (it was one batch per interval).

        Nothing to do once the deliveries are partitioned (migration 0025): dropping a month is
        the purge there (the partition job), and deleting rows would leave their attempts, which
        no foreign key deletes any more, and the dead tuples partitioning avoids."""
        async with self.database.sessionmaker() as session:
            if await DeliveryRepository(session).partitioned():
                return False
        deadline = time.monotonic() + budget
        while True:
            async with self.database.sessionmaker() as session, session.begin():
                deleted = await DeliveryRepository(session).purge_finished(
                    self.policy.retention, _PURGE_BATCH
                )
            if deleted < _PURGE_BATCH:
                return False
            if time.monotonic() >= deadline:
                return True

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # races its timeout, and a deliverer that missed its cancel hung a shutdown for good.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()


async def _disable(session: AsyncSession, endpoint: Row[Any], reason: str) -> None:
    """Deactivate the (locked, active) endpoint and write its audit row in the same transaction.
    The row shows the fields that change, never a secret."""
    disabled = await WebhookRepository(session).disable(endpoint.id, reason)
    # The policy disables only an active endpoint, and record() holds its row lock since.
    assert disabled is not None, "disabling an inactive webhook"
    changes = {
        "active": {"before": endpoint.active, "after": disabled.active},
        "disabled_reason": {"before": endpoint.disabled_reason, "after": disabled.disabled_reason},
    }
    await AuditService(session).record(
        "disable", AuditedEntity.webhook, [(endpoint.id, changes)], _WORKER_CONTEXT
    )


def _attempt_row(delivery: Row[Any], outcome: Outcome) -> dict[str, Any]:
    return {
        "delivery_id": delivery.id,
        "attempt": delivery.attempts,
        "manual": delivery.manual,
        "started_at": outcome.started_at,
        "duration_ms": outcome.duration_ms,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "response_body": outcome.response_body,
    }


def _state(decision: Decision, outcome: Outcome, now: Any) -> dict[str, Any]:
    return {
        "status": decision.status,
        "next_attempt_at": decision.next_attempt_at,
        "finished_at": now if decision.status in FINISHED else None,
        "last_status_code": outcome.status_code,
        "last_error": decision.note or outcome.error,
        "manual": False,
    }


def _sequence(delivery: Row[Any]) -> int:
    """The log position of a delivery's event: its outbox row, whichever data version the
    delivery carries."""
    return int(delivery.payload["sequence"])
