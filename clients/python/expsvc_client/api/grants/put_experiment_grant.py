from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.grant_read import GrantRead
from ...models.grant_write import GrantWrite
from ...models.grantee_type import GranteeType
from ...models.problem import Problem
from ...types import Response


def _get_kwargs(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    body: GrantWrite,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/v1/experiments/{experiment_id}/grants/{grantee_type}/{name}".format(
            experiment_id=quote(str(experiment_id), safe=""),
            grantee_type=quote(str(grantee_type), safe=""),
            name=quote(str(name), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> GrantRead | Problem | None:
    if response.status_code == 200:
        response_200 = GrantRead.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[GrantRead | Problem]:
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
    body: GrantWrite,
) -> Response[GrantRead | Problem]:
    """Put Grant

     Give a principal or a group a role (replacing the one it had). Owners only; demoting
    the last owner is 409 ``last-owner``. Transfer ownership by making the new owner an owner,
    then removing or demoting yourself.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):
        body (GrantWrite):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GrantRead | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
        body=body,
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
    body: GrantWrite,
) -> GrantRead | Problem | None:
    """Put Grant

     Give a principal or a group a role (replacing the one it had). Owners only; demoting
    the last owner is 409 ``last-owner``. Transfer ownership by making the new owner an owner,
    then removing or demoting yourself.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):
        body (GrantWrite):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GrantRead | Problem
    """

    return sync_detailed(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
    body: GrantWrite,
) -> Response[GrantRead | Problem]:
    """Put Grant

     Give a principal or a group a role (replacing the one it had). Owners only; demoting
    the last owner is 409 ``last-owner``. Transfer ownership by making the new owner an owner,
    then removing or demoting yourself.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):
        body (GrantWrite):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[GrantRead | Problem]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        grantee_type=grantee_type,
        name=name,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    experiment_id: UUID,
    grantee_type: GranteeType,
    name: str,
    *,
    client: AuthenticatedClient | Client,
    body: GrantWrite,
) -> GrantRead | Problem | None:
    """Put Grant

     Give a principal or a group a role (replacing the one it had). Owners only; demoting
    the last owner is 409 ``last-owner``. Transfer ownership by making the new owner an owner,
    then removing or demoting yourself.

    Args:
        experiment_id (UUID):
        grantee_type (GranteeType):
        name (str):
        body (GrantWrite):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        GrantRead | Problem
    """

    return (
        await asyncio_detailed(
            experiment_id=experiment_id,
            grantee_type=grantee_type,
            name=name,
            client=client,
            body=body,
        )
    ).parsed
