from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.bulk_result import BulkResult
from ...models.problem import Problem
from ...models.run_bulk_transition import RunBulkTransition
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: RunBulkTransition,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/runs/bulk/transition",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> BulkResult | Problem | None:
    if response.status_code == 200:
        response_200 = BulkResult.from_dict(response.json())

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

    if response.status_code == 409:
        response_409 = Problem.from_dict(response.json())

        return response_409

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
) -> Response[BulkResult | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RunBulkTransition,
    idempotency_key: str | Unset = UNSET,
) -> Response[BulkResult | Problem]:
    """Bulk Transition Runs

     Start, finish, fail or archive up to 10,000 runs, chosen by ids or by a filter.

    The single-run rules and cascades apply to each run; every change gets its history row,
    event and audit row, tied by the answer's ``batch_id``. ``atomic`` (default): all or
    nothing, 409 listing the runs that cannot change. ``partial``: change what can be changed.

    Args:
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        body (RunBulkTransition): ``POST /v1/runs/bulk/transition``: one lifecycle action on many
            runs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BulkResult | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: RunBulkTransition,
    idempotency_key: str | Unset = UNSET,
) -> BulkResult | Problem | None:
    """Bulk Transition Runs

     Start, finish, fail or archive up to 10,000 runs, chosen by ids or by a filter.

    The single-run rules and cascades apply to each run; every change gets its history row,
    event and audit row, tied by the answer's ``batch_id``. ``atomic`` (default): all or
    nothing, 409 listing the runs that cannot change. ``partial``: change what can be changed.

    Args:
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        body (RunBulkTransition): ``POST /v1/runs/bulk/transition``: one lifecycle action on many
            runs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BulkResult | Problem
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RunBulkTransition,
    idempotency_key: str | Unset = UNSET,
) -> Response[BulkResult | Problem]:
    """Bulk Transition Runs

     Start, finish, fail or archive up to 10,000 runs, chosen by ids or by a filter.

    The single-run rules and cascades apply to each run; every change gets its history row,
    event and audit row, tied by the answer's ``batch_id``. ``atomic`` (default): all or
    nothing, 409 listing the runs that cannot change. ``partial``: change what can be changed.

    Args:
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        body (RunBulkTransition): ``POST /v1/runs/bulk/transition``: one lifecycle action on many
            runs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[BulkResult | Problem]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: RunBulkTransition,
    idempotency_key: str | Unset = UNSET,
) -> BulkResult | Problem | None:
    """Bulk Transition Runs

     Start, finish, fail or archive up to 10,000 runs, chosen by ids or by a filter.

    The single-run rules and cascades apply to each run; every change gets its history row,
    event and audit row, tied by the answer's ``batch_id``. ``atomic`` (default): all or
    nothing, 409 listing the runs that cannot change. ``partial``: change what can be changed.

    Args:
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).
        body (RunBulkTransition): ``POST /v1/runs/bulk/transition``: one lifecycle action on many
            runs.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        BulkResult | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
