from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    Row,
    Select,
    Text,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert

from expsvc.auth.access import experiment_of_entity
from expsvc.models import (
    experiment_grants,
    outbox_events,
    webhook_deliveries,
    webhook_delivery_attempts,
    webhook_endpoints,
)
from expsvc.pagination import Ordering
from expsvc.repository import EntityRepository

# The delivery worker listens here; fan-out and redelivery notify at commit.
DELIVERY_CHANNEL = "expsvc_webhooks"
IN_FLIGHT = ("pending", "delivering")
_LOCK_CLAIM = text("SELECT pg_advisory_xact_lock(hashtext('webhook-delivery-claim'))")
# Rank each endpoint's due rows by age; an endpoint may take as many as it has room for under
# per_endpoint (its unexpired leases count against it); the ranks interleave the endpoints.
_CLAIM_FAIRLY = text(
    """
    WITH busy AS (
        SELECT endpoint_id, count(*) AS in_flight FROM webhook_deliveries
        WHERE status = 'delivering' AND next_attempt_at > now()
        GROUP BY endpoint_id
    ), due AS (
        SELECT id, endpoint_id, next_attempt_at,
               row_number() OVER (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS rank
        FROM webhook_deliveries
        WHERE status IN ('pending', 'delivering') AND next_attempt_at <= now()
    ), chosen AS (
        SELECT due.id FROM due LEFT JOIN busy USING (endpoint_id)
        WHERE due.rank <= :per_endpoint - coalesce(busy.in_flight, 0)
        ORDER BY due.rank, due.next_attempt_at
        LIMIT :limit
    ), locked AS (
        SELECT id FROM webhook_deliveries WHERE id IN (SELECT id FROM chosen)
        FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries AS d
    SET status = 'delivering', attempts = d.attempts + 1,
        next_attempt_at = now() + :lease, last_attempt_at = now()
    FROM locked WHERE d.id = locked.id
    RETURNING d.*
    """
).columns(*webhook_deliveries.c)  # typed result columns: JSON and timestamps decode as usual
FINISHED = ("succeeded", "failed", "abandoned")


# One owner's creates take turns (transaction-scoped; the key space is shared with nothing else
# that hashes 'webhook-owner:').
_LOCK_OWNER = text("SELECT pg_advisory_xact_lock(hashtext('webhook-owner:' || :owner))")


class WebhookRepository(EntityRepository):
    table = webhook_endpoints

    async def search(
        self,
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
        owner: str | None,
    ) -> Sequence[Row[Any]]:
        """A page of the webhooks ``owner`` created (all of them when None: an admin)."""
        query = select(webhook_endpoints)
        if owner is not None:
            query = query.where(webhook_endpoints.c.created_by == owner)
        return await self.fetch_page(query, ordering, after, limit)

    async def count_owned(self, owner: str) -> int:
        """How many webhooks ``owner`` has, counted after waiting for any other transaction
        creating one for the same owner (so two concurrent creates cannot both pass a limit)."""
        await self.session.execute(_LOCK_OWNER, {"owner": owner})
        query = select(func.count()).where(webhook_endpoints.c.created_by == owner)
        return int((await self.session.execute(query)).scalar_one())

    async def deliverable(
        self,
        sequences: Sequence[int],
        grantees: Sequence[tuple[uuid.UUID, str]],
        admin_endpoints: Sequence[uuid.UUID],
    ) -> dict[tuple[int, uuid.UUID], uuid.UUID | None]:
        """The (event sequence, endpoint) pairs where the endpoint is one of ``admin_endpoints``
        or one of its ``grantees`` holds a role on the event's experiment; each with that
        experiment (None when its entity, or the entity's experiment, is gone). Events are
        named by their log position, which every data version of one shares (docs/adr/0021)."""
        event = outbox_events
        audience = (
            func.unnest(
                literal([endpoint for endpoint, _ in grantees], ARRAY(PG_UUID(as_uuid=True))),
                literal([grantee for _, grantee in grantees], ARRAY(Text)),
            )
            .table_valued("endpoint_id", "grantee")
            .render_derived("w")
        )
        experiment = experiment_of_entity(event.c.entity_type, event.c.entity_id)
        grant = experiment_grants.alias("g")
        granted = (
            select(grant.c.experiment_id)
            .where(grant.c.grantee == audience.c.grantee, grant.c.experiment_id == experiment)
            .exists()
        )
        query = (
            select(event.c.seq, audience.c.endpoint_id, experiment.label("experiment_id"))
            .distinct()
            .select_from(event.join(audience, true()))
            .where(
                event.c.seq.in_(list(sequences)),
                or_(audience.c.endpoint_id.in_(list(admin_endpoints)), granted),
            )
        )
        rows = (await self.session.execute(query)).all()
        return {(row.seq, row.endpoint_id): row.experiment_id for row in rows}

    async def delete(
        self, endpoint_id: uuid.UUID, versions: frozenset[int] | None
    ) -> Row[Any] | None:
        query = delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if versions is not None:
            query = query.where(webhook_endpoints.c.version.in_(versions))
        row: Row[Any] | None = (
            await self.session.execute(query.returning(webhook_endpoints.c.id))
        ).one_or_none()
        return row

    async def rotate(
        self,
        endpoint_id: uuid.UUID,
        secret: str,
        overlap: timedelta,
        versions: frozenset[int] | None,
    ) -> Row[Any] | None:
        """The current secret becomes the previous one (atomically: concurrent rotations
        cannot lose a secret a client was given)."""
        t = webhook_endpoints
        values = {
            "secret": secret,
            "previous_secret": t.c.secret,
            "previous_secret_expires_at": func.now() + overlap,
        }
        return await self.update(endpoint_id, values, versions)

    async def subscribed(self) -> Sequence[Row[Any]]:
        """Active endpoints: what the fan-out matches events against."""
        t = webhook_endpoints
        query: Select[Any] = select(
            t.c.id,
            t.c.event_types,
            t.c.experiment_ids,
            t.c.created_at,
            t.c.created_by,
            t.c.owner_groups,
        ).where(t.c.active)
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def signing_view(self, endpoint_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row[Any]]:
        """URL, activity and the secrets that sign now, per endpoint."""
        t = webhook_endpoints
        previous = case(
            (t.c.previous_secret_expires_at > func.now(), t.c.previous_secret), else_=None
        )
        query: Select[Any] = select(
            t.c.id,
            t.c.url,
            t.c.active,
            t.c.created_by,
            t.c.owner_groups,
            t.c.secret,
            previous.label("previous_secret"),
        ).where(t.c.id.in_(list(endpoint_ids)))
        return {row.id: row for row in (await self.session.execute(query)).all()}

    async def secrets_page(self, after: uuid.UUID | None, limit: int) -> Sequence[Row[Any]]:
        """Every endpoint's stored secrets, locked, in id order after ``after``: one batch of a
        key rotation (``expsvc secrets rotate``)."""
        t = webhook_endpoints
        query: Select[Any] = (
            select(t.c.id, t.c.secret, t.c.previous_secret)
            .order_by(t.c.id)
            .limit(limit)
            .with_for_update()
        )
        if after is not None:
            query = query.where(t.c.id > after)
        rows: Sequence[Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def replace_secrets(self, rows: Sequence[dict[str, Any]]) -> None:
        """Set ``secret`` and ``previous_secret`` of each ``{id, secret, previous_secret}`` (one
        executemany). The same secrets re-encrypted: the version (ETag) stays."""
        if not rows:
            return
        t = webhook_endpoints
        query = (
            update(t)
            .where(t.c.id == bindparam("endpoint_id"))
            .values(secret=bindparam("new_secret"), previous_secret=bindparam("new_previous"))
        )
        await self.session.execute(
            query,
            [
                {
                    "endpoint_id": row["id"],
                    "new_secret": row["secret"],
                    "new_previous": row["previous_secret"],
                }
                for row in rows
            ],
        )

    async def set_failing_since(self, endpoint_id: uuid.UUID, since: datetime | None) -> None:
        # Delivery state, not configuration: the version (ETag) stays (docs/adr/0007).
        await self.session.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(failing_since=since)
        )

    async def disable(self, endpoint_id: uuid.UUID, reason: str) -> Row[Any] | None:
        """Deactivate the endpoint (the worker's decision); None when it was inactive already."""
        t = webhook_endpoints
        row: Row[Any] | None = (
            await self.session.execute(
                update(t)
                .where(t.c.id == endpoint_id, t.c.active)
                .values(
                    active=False,
                    disabled_reason=reason,
                    disabled_at=func.now(),
                    version=t.c.version + 1,
                    updated_at=func.now(),
                )
                .returning(t.c.active, t.c.disabled_reason)
            )
        ).one_or_none()
        return row


class DeliveryRepository(EntityRepository):
    table = webhook_deliveries

    async def fan_out(self, rows: Sequence[dict[str, Any]]) -> None:
        """One pending delivery per row, due now.

        The relay's transaction makes the fan-out of an event happen once (it advances the
        sink's cursor). No conflict target: the deliveries partitioned by month (migration 0025,
        docs/adr/0020) have no unique index on ``(endpoint_id, event_id)`` to name; on the plain
        table of an older schema its unique constraint still drops a repeat."""
        query = (
            pg_insert(webhook_deliveries)
            .values(next_attempt_at=func.now())
            .on_conflict_do_nothing()
        )
        await self.session.execute(query, list(rows))

    async def now(self) -> datetime:
        """The database's clock (transaction start): what every stored time is compared with."""
        value: datetime = (await self.session.execute(select(func.now()))).scalar_one()
        return value

    async def notify(self) -> None:
        await self.session.execute(text(f"NOTIFY {DELIVERY_CHANNEL}"))

    async def claim(
        self, limit: int, lease: timedelta, per_endpoint: int = 4
    ) -> Sequence[Row[Any]]:
        """Due deliveries (and ones whose worker's lease ran out), marked delivering under a
        new lease; each claim counts as an attempt, so a delivery that kills its worker does
        not loop for ever.

        Fair: each endpoint's oldest due rows, round-robin over the endpoints (first every
        endpoint's oldest, then every endpoint's second…), and no endpoint past
        ``per_endpoint`` attempts in flight (unexpired leases) over all workers. Claims are
        serialised by a transaction-scoped advisory lock, so two workers cannot both see room
        for the same endpoint; a claim is one short statement.
        """
        await self.session.execute(_LOCK_CLAIM)
        rows: Sequence[Row[Any]] = (
            await self.session.execute(
                _CLAIM_FAIRLY,
                {"limit": limit, "per_endpoint": per_endpoint, "lease": lease},
            )
        ).all()
        return rows

    async def seconds_until_due(self) -> float | None:
        query = select(
            func.extract("epoch", func.min(webhook_deliveries.c.next_attempt_at) - func.now())
        ).where(webhook_deliveries.c.status.in_(IN_FLIGHT))
        value = await self.session.scalar(query)
        return None if value is None else float(value)

    async def in_flight_summary(self) -> tuple[int, float]:
        """How many deliveries are unfinished, and the age in seconds of the oldest (0: none)."""
        t = webhook_deliveries
        age = func.extract("epoch", func.now() - func.min(t.c.created_at))
        query = select(func.count(), func.coalesce(age, 0)).where(t.c.status.in_(IN_FLIGHT))
        count, oldest = (await self.session.execute(query)).one()
        return int(count), float(oldest)

    async def set_state(self, delivery_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(values)
        )

    async def abandon(self, delivery_ids: Sequence[uuid.UUID], reason: str) -> None:
        """Give up these (claimed) deliveries without an attempt."""
        t = webhook_deliveries
        await self.session.execute(
            update(t)
            .where(t.c.id.in_(list(delivery_ids)))
            .values(
                status="abandoned", last_error=reason, next_attempt_at=None, finished_at=func.now()
            )
        )

    async def abandon_in_flight(self, endpoint_id: uuid.UUID, reason: str) -> int:
        """Give up every delivery of the endpoint not finished yet (it was disabled)."""
        t = webhook_deliveries
        result = await self.session.execute(
            update(t)
            .where(t.c.endpoint_id == endpoint_id, t.c.status.in_(IN_FLIGHT))
            .values(
                status="abandoned", last_error=reason, next_attempt_at=None, finished_at=func.now()
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_of(self, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> Row[Any] | None:
        t = webhook_deliveries
        query = select(t).where(t.c.id == delivery_id, t.c.endpoint_id == endpoint_id)
        row: Row[Any] | None = (await self.session.execute(query)).one_or_none()
        return row

    async def redeliver(self, delivery_id: uuid.UUID, max_attempts: int) -> Row[Any]:
        t = webhook_deliveries
        query = (
            update(t)
            .where(t.c.id == delivery_id)
            .values(
                status="pending",
                next_attempt_at=func.now(),
                max_attempts=max_attempts,
                manual=True,
                finished_at=None,
            )
            .returning(t)
        )
        row: Row[Any] = (await self.session.execute(query)).one()
        return row

    async def search(
        self,
        endpoint_id: uuid.UUID,
        statuses: Sequence[str],
        ordering: Ordering,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[Row[Any]]:
        query = select(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
        if statuses:
            query = query.where(webhook_deliveries.c.status.in_(list(statuses)))
        return await self.fetch_page(query, ordering, after, limit)

    async def attempts_of(
        self, delivery_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Row[Any]]]:
        """The attempt log of each delivery, oldest first, in one query."""
        a = webhook_delivery_attempts
        found: dict[uuid.UUID, list[Row[Any]]] = {delivery_id: [] for delivery_id in delivery_ids}
        if delivery_ids:
            query = select(a).where(a.c.delivery_id.in_(list(delivery_ids))).order_by(a.c.id)
            for row in (await self.session.execute(query)).all():
                found[row.delivery_id].append(row)
        return found

    async def add_attempt(self, values: dict[str, Any]) -> None:
        await self.session.execute(insert(webhook_delivery_attempts).values(**values))

    async def partitioned(self) -> bool:
        """Whether the deliveries are partitioned by month (migration 0025): the partition job
        then drops whole months, and no row is purged."""
        query = text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(:table)")
        return bool(await self.session.scalar(query, {"table": webhook_deliveries.name}))

    async def purge_finished(self, older_than: timedelta, limit: int) -> int:
        """Delete finished deliveries past retention (on the plain tables of a schema before
        0025, whose foreign key deletes their attempts with them)."""
        t = webhook_deliveries
        old = (
            select(t.c.id)
            .where(t.c.finished_at < func.now() - older_than)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self.session.execute(delete(t).where(t.c.id.in_(old)))
        return int(result.rowcount)  # type: ignore[attr-defined]
