from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.webhook_read import WebhookRead
from ...models.webhook_update import WebhookUpdate
from ...types import UNSET, Response, Unset


def _get_kwargs(
    webhook_id: UUID,
    *,
    body: WebhookUpdate,
    if_match: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    _kwargs: dict[str, Any] = {
        "method": "patch",
        "url": "/v1/webhooks/{webhook_id}".format(
            webhook_id=quote(str(webhook_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | WebhookRead | None:
    if response.status_code == 200:
        response_200 = WebhookRead.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = Problem.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

    if response.status_code == 412:
        response_412 = Problem.from_dict(response.json())

        return response_412

    if response.status_code == 413:
        response_413 = Problem.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = Problem.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = Problem.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = Problem.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = Problem.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Problem | WebhookRead]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    webhook_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: WebhookUpdate,
    if_match: str | Unset = UNSET,
) -> Response[Problem | WebhookRead]:
    """Update Webhook

     Change the URL, event types, experiments, description or activity. `active: true`
    re-enables an endpoint the service disabled; `active: false` gives up its pending
    deliveries.

    Args:
        webhook_id (UUID):
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (WebhookUpdate): Only the fields present change. ``active: true`` re-enables a
            disabled endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookRead]
    """

    kwargs = _get_kwargs(
        webhook_id=webhook_id,
        body=body,
        if_match=if_match,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    webhook_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: WebhookUpdate,
    if_match: str | Unset = UNSET,
) -> Problem | WebhookRead | None:
    """Update Webhook

     Change the URL, event types, experiments, description or activity. `active: true`
    re-enables an endpoint the service disabled; `active: false` gives up its pending
    deliveries.

    Args:
        webhook_id (UUID):
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (WebhookUpdate): Only the fields present change. ``active: true`` re-enables a
            disabled endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookRead
    """

    return sync_detailed(
        webhook_id=webhook_id,
        client=client,
        body=body,
        if_match=if_match,
    ).parsed


async def asyncio_detailed(
    webhook_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: WebhookUpdate,
    if_match: str | Unset = UNSET,
) -> Response[Problem | WebhookRead]:
    """Update Webhook

     Change the URL, event types, experiments, description or activity. `active: true`
    re-enables an endpoint the service disabled; `active: false` gives up its pending
    deliveries.

    Args:
        webhook_id (UUID):
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (WebhookUpdate): Only the fields present change. ``active: true`` re-enables a
            disabled endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | WebhookRead]
    """

    kwargs = _get_kwargs(
        webhook_id=webhook_id,
        body=body,
        if_match=if_match,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    webhook_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: WebhookUpdate,
    if_match: str | Unset = UNSET,
) -> Problem | WebhookRead | None:
    """Update Webhook

     Change the URL, event types, experiments, description or activity. `active: true`
    re-enables an endpoint the service disabled; `active: false` gives up its pending
    deliveries.

    Args:
        webhook_id (UUID):
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (WebhookUpdate): Only the fields present change. ``active: true`` re-enables a
            disabled endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | WebhookRead
    """

    return (
        await asyncio_detailed(
            webhook_id=webhook_id,
            client=client,
            body=body,
            if_match=if_match,
        )
    ).parsed
