from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.batch_result import BatchResult
from ...models.problem import Problem
from ...models.receive_artifact_events_body import ReceiveArtifactEventsBody
from ...types import Response


def _get_kwargs(
    *,
    body: ReceiveArtifactEventsBody,
    webhook_id: str,
    webhook_timestamp: str,
    webhook_signature: str,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    headers["webhook-id"] = webhook_id

    headers["webhook-timestamp"] = webhook_timestamp

    headers["webhook-signature"] = webhook_signature

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/integrations/artifacts/events",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> BatchResult | Problem | None:
    if response.status_code == 200:
        response_200 = BatchResult.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = Problem.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = Problem.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = Problem.from_dict(response.json())

        return response_404

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
) -> Response[BatchResult | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveArtifactEventsBody,
    webhook_id: str,
    webhook_timestamp: str,
    webhook_signature: str,
) -> Response[BatchResult | Problem]:
    """Receive Artifact Events

     The Artifact Service's events: artifact.linked, artifact.status_changed and
    model.approved, signed like a Standard Webhook with EXPSVC_ARTIFACT_SERVICE_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.

    Args:
        webhook_id (str):
        webhook_timestamp (str):
        webhook_signature (str):
        body (ReceiveArtifactEventsBody): Also accepted: the bare JSON array of events.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResult | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        webhook_id=webhook_id,
        webhook_timestamp=webhook_timestamp,
        webhook_signature=webhook_signature,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveArtifactEventsBody,
    webhook_id: str,
    webhook_timestamp: str,
    webhook_signature: str,
) -> BatchResult | Problem | None:
    """Receive Artifact Events

     The Artifact Service's events: artifact.linked, artifact.status_changed and
    model.approved, signed like a Standard Webhook with EXPSVC_ARTIFACT_SERVICE_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.

    Args:
        webhook_id (str):
        webhook_timestamp (str):
        webhook_signature (str):
        body (ReceiveArtifactEventsBody): Also accepted: the bare JSON array of events.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResult | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        webhook_id=webhook_id,
        webhook_timestamp=webhook_timestamp,
        webhook_signature=webhook_signature,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveArtifactEventsBody,
    webhook_id: str,
    webhook_timestamp: str,
    webhook_signature: str,
) -> Response[BatchResult | Problem]:
    """Receive Artifact Events

     The Artifact Service's events: artifact.linked, artifact.status_changed and
    model.approved, signed like a Standard Webhook with EXPSVC_ARTIFACT_SERVICE_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.

    Args:
        webhook_id (str):
        webhook_timestamp (str):
        webhook_signature (str):
        body (ReceiveArtifactEventsBody): Also accepted: the bare JSON array of events.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BatchResult | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        webhook_id=webhook_id,
        webhook_timestamp=webhook_timestamp,
        webhook_signature=webhook_signature,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveArtifactEventsBody,
    webhook_id: str,
    webhook_timestamp: str,
    webhook_signature: str,
) -> BatchResult | Problem | None:
    """Receive Artifact Events

     The Artifact Service's events: artifact.linked, artifact.status_changed and
    model.approved, signed like a Standard Webhook with EXPSVC_ARTIFACT_SERVICE_SECRET.

    Each event is applied once (by id); the answer says what came of each one. 404 when no
    secret is configured. See docs/integrations.md.

    Args:
        webhook_id (str):
        webhook_timestamp (str):
        webhook_signature (str):
        body (ReceiveArtifactEventsBody): Also accepted: the bare JSON array of events.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BatchResult | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            webhook_id=webhook_id,
            webhook_timestamp=webhook_timestamp,
            webhook_signature=webhook_signature,
        )
    ).parsed
