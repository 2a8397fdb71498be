from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.grantee_type import GranteeType
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/experiments/{experiment_id}/grants/{grantee_type}/{name}".format(
            experiment_id=quote(str(experiment_id), safe=""),
            grantee_type=quote(str(grantee_type), safe=""),
            name=quote(str(name), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Any | Problem | None:
    if response.status_code == 204:
        response_204 = cast(Any, None)
        return response_204

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Any | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | Problem]:
    """Delete Grant

     Take a principal's or a group's role away. Owners only; the last owner stays.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
) -> Any | Problem | None:
    """Delete Grant

     Take a principal's or a group's role away. Owners only; the last owner stays.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return sync_detailed(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
        client=client,
    ).parsed


async def asyncio_detailed(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Any | Problem]:
    """Delete Grant

     Take a principal's or a group's role away. Owners only; the last owner stays.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
) -> Any | Problem | None:
    """Delete Grant

     Take a principal's or a group's role away. Owners only; the last owner stays.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | Problem
    """

    return (
        await asyncio_detailed(
            experiment_id=experiment_id,
            grantee_type=grantee_type,
            name=name,
            client=client,
        )
    ).parsed
