from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.experiment_read import ExperimentRead
from ...models.fail_request import FailRequest
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    experiment_id: UUID,
    *,
    body: FailRequest,
    idempotency_key: str | Unset = UNSET,
    if_match: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    if not isinstance(if_match, Unset):
        headers["If-Match"] = if_match

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/experiments/{experiment_id}/fail".format(
            experiment_id=quote(str(experiment_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ExperimentRead | Problem | None:
    if response.status_code == 200:
        response_200 = ExperimentRead.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

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
) -> Response[ExperimentRead | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    experiment_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: FailRequest,
    idempotency_key: str | Unset = UNSET,
    if_match: str | Unset = UNSET,
) -> Response[ExperimentRead | Problem]:
    """Fail an experiment: running → failed (reason required)

    Args:
        experiment_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (FailRequest): Body of a ``fail`` action.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExperimentRead | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        body=body,
        idempotency_key=idempotency_key,
        if_match=if_match,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    experiment_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: FailRequest,
    idempotency_key: str | Unset = UNSET,
    if_match: str | Unset = UNSET,
) -> ExperimentRead | Problem | None:
    """Fail an experiment: running → failed (reason required)

    Args:
        experiment_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (FailRequest): Body of a ``fail`` action.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExperimentRead | Problem
    """

    return sync_detailed(
        experiment_id=experiment_id,
        client=client,
        body=body,
        idempotency_key=idempotency_key,
        if_match=if_match,
    ).parsed


async def asyncio_detailed(
    experiment_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: FailRequest,
    idempotency_key: str | Unset = UNSET,
    if_match: str | Unset = UNSET,
) -> Response[ExperimentRead | Problem]:
    """Fail an experiment: running → failed (reason required)

    Args:
        experiment_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (FailRequest): Body of a ``fail`` action.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExperimentRead | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        body=body,
        idempotency_key=idempotency_key,
        if_match=if_match,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    experiment_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    body: FailRequest,
    idempotency_key: str | Unset = UNSET,
    if_match: str | Unset = UNSET,
) -> ExperimentRead | Problem | None:
    """Fail an experiment: running → failed (reason required)

    Args:
        experiment_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        if_match (str | Unset): ETag of the version you read (e.g. "3"), several comma-separated,
            or *; 412 if the resource changed since.
        body (FailRequest): Body of a ``fail`` action.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExperimentRead | Problem
    """

    return (
        await asyncio_detailed(
            experiment_id=experiment_id,
            client=client,
            body=body,
            idempotency_key=idempotency_key,
            if_match=if_match,
        )
    ).parsed
