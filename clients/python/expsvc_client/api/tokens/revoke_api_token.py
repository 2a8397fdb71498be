from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_token_read import ApiTokenRead
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    token_id: UUID,
    *,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/tokens/{token_id}/revoke".format(
            token_id=quote(str(token_id), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiTokenRead | Problem | None:
    if response.status_code == 200:
        response_200 = ApiTokenRead.from_dict(response.json())

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
) -> Response[ApiTokenRead | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    token_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    idempotency_key: str | Unset = UNSET,
) -> Response[ApiTokenRead | Problem]:
    """Revoke Api Token

     Revoke at once: the next request with the token is refused.

    Args:
        token_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiTokenRead | Problem]
    """

    kwargs = _get_kwargs(
        token_id=token_id,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    token_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    idempotency_key: str | Unset = UNSET,
) -> ApiTokenRead | Problem | None:
    """Revoke Api Token

     Revoke at once: the next request with the token is refused.

    Args:
        token_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiTokenRead | Problem
    """

    return sync_detailed(
        token_id=token_id,
        client=client,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    token_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    idempotency_key: str | Unset = UNSET,
) -> Response[ApiTokenRead | Problem]:
    """Revoke Api Token

     Revoke at once: the next request with the token is refused.

    Args:
        token_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiTokenRead | Problem]
    """

    kwargs = _get_kwargs(
        token_id=token_id,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    token_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    idempotency_key: str | Unset = UNSET,
) -> ApiTokenRead | Problem | None:
    """Revoke Api Token

     Revoke at once: the next request with the token is refused.

    Args:
        token_id (UUID):
        idempotency_key (str | Unset): Makes the request safe to retry: a repeat with the same key
            and the same request gets the stored response (header Idempotent-Replayed: true); the same
            key with a different request is 422; while the first is in progress, 409. Keys are scoped
            to the caller and kept for 24 hours (configurable).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiTokenRead | Problem
    """

    return (
        await asyncio_detailed(
            token_id=token_id,
            client=client,
            idempotency_key=idempotency_key,
        )
    ).parsed
