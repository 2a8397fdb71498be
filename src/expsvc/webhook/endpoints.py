from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status

from expsvc.concurrency import ExpectedVersions, etag_for, if_match
from expsvc.context import CurrentContext
from expsvc.errors import (
    BadRequest,
    InternalError,
    PreconditionFailed,
    ValidationFailed,
    problem_responses,
)
from expsvc.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from expsvc.routing import DbSession, TransactionalRoute
from expsvc.schemas import PageToken
from expsvc.secret.box import SecretUndecryptable
from expsvc.settings import Settings
from expsvc.webhook.schemas import (
    DeliveryPage,
    DeliveryQuery,
    DeliveryRead,
    WebhookCreate,
    WebhookPage,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)
from expsvc.webhook.service import (
    WebhookDeliveryInProgress,
    WebhookDeliveryNotFound,
    WebhookExperimentsNotFound,
    WebhookInactive,
    WebhookLimitReached,
    WebhookNotFound,
    WebhookService,
    WebhookUrlNotAllowed,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=TransactionalRoute)

IfMatch = Annotated[ExpectedVersions, Depends(if_match)]
_Read = TypeVar("_Read", bound=WebhookRead)


async def get_service(
    request: Request, session: DbSession, context: CurrentContext
) -> WebhookService:
    settings: Settings = request.app.state.settings
    return WebhookService(
        session,
        context.principal,
        allow_private_targets=settings.webhook_allow_private_targets,
        secret_overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
        box=request.app.state.secret_box,
        max_per_owner=settings.webhook_max_per_owner,
    )


Service = Annotated[WebhookService, Depends(get_service)]


def _tagged(webhook: _Read, response: Response) -> _Read:
    response.headers["ETag"] = etag_for(webhook.version)
    return webhook


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_webhook",
    responses=problem_responses(
        WebhookUrlNotAllowed,
        WebhookExperimentsNotFound,
        WebhookLimitReached,
        ValidationFailed,
        InternalError,
        SecretUndecryptable,
    ),
)
async def create_webhook(
    body: WebhookCreate, context: CurrentContext, service: Service, response: Response
) -> WebhookWithSecret:
    """Subscribe a URL to events. The answer holds the signing secret, shown only here."""
    webhook = await service.create(context, body)
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return _tagged(webhook, response)


@router.get("", operation_id="list_webhooks", responses=problem_responses(BadRequest))
async def list_webhooks(
    _: CurrentContext,
    service: Service,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    page_token: Annotated[PageToken | None, Query()] = None,
) -> WebhookPage:
    """Newest first (created_at, then id), keyset-paginated. Secrets are never listed."""
    return await service.search(page_size, page_token)


@router.get(
    "/{webhook_id}",
    operation_id="get_webhook",
    responses=problem_responses(WebhookNotFound, ValidationFailed),
)
async def get_webhook(
    webhook_id: uuid.UUID, _: CurrentContext, service: Service, response: Response
) -> WebhookRead:
    return _tagged(await service.get(webhook_id), response)


@router.patch(
    "/{webhook_id}",
    operation_id="update_webhook",
    responses=problem_responses(
        BadRequest,
        WebhookNotFound,
        PreconditionFailed,
        WebhookUrlNotAllowed,
        WebhookExperimentsNotFound,
        ValidationFailed,
    ),
)
async def update_webhook(
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    context: CurrentContext,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> WebhookRead:
    """Change the URL, event types, experiments, description or activity. `active: true`
    re-enables an endpoint the service disabled; `active: false` gives up its pending
    deliveries."""
    return _tagged(await service.update(context, webhook_id, body, expected), response)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_webhook",
    responses=problem_responses(BadRequest, WebhookNotFound, PreconditionFailed),
)
async def delete_webhook(
    webhook_id: uuid.UUID, context: CurrentContext, expected: IfMatch, service: Service
) -> Response:
    """Delete the endpoint and its delivery log."""
    await service.delete(context, webhook_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    operation_id="rotate_webhook_secret",
    responses=problem_responses(
        BadRequest, WebhookNotFound, PreconditionFailed, InternalError, SecretUndecryptable
    ),
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID,
    context: CurrentContext,
    expected: IfMatch,
    service: Service,
    response: Response,
) -> WebhookWithSecret:
    """A new signing secret, shown only here. The old one keeps signing beside it (two
    signatures per request) until `previous_secret_expires_at`."""
    return _tagged(await service.rotate_secret(context, webhook_id, expected), response)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    responses=problem_responses(BadRequest, WebhookNotFound, ValidationFailed),
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    query: Annotated[DeliveryQuery, Query()],
    _: CurrentContext,
    service: Service,
) -> DeliveryPage:
    """The delivery log, newest first (created_at, then id), each with its attempts."""
    return await service.list_deliveries(webhook_id, query)


@router.get(
    "/{webhook_id}/deliveries/{delivery_id}",
    operation_id="get_webhook_delivery",
    responses=problem_responses(WebhookNotFound, WebhookDeliveryNotFound, ValidationFailed),
)
async def get_webhook_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, _: CurrentContext, service: Service
) -> DeliveryRead:
    return await service.get_delivery(webhook_id, delivery_id)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="redeliver_webhook",
    responses=problem_responses(
        WebhookNotFound,
        WebhookDeliveryNotFound,
        WebhookInactive,
        WebhookDeliveryInProgress,
        ValidationFailed,
    ),
)
async def redeliver_webhook(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, context: CurrentContext, service: Service
) -> DeliveryRead:
    """Attempt the delivery again now, with the same `webhook-id`. A pending delivery keeps its
    remaining retries; a finished one gets this one attempt."""
    return await service.redeliver(context, webhook_id, delivery_id)
