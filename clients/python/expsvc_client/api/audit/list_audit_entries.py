import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.audit_page import AuditPage
from ...models.audited_entity import AuditedEntity
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    entity_type: AuditedEntity | Unset = UNSET,
    entity_id: UUID | Unset = UNSET,
    batch_id: UUID | Unset = UNSET,
    occurred_after: datetime.datetime | Unset = UNSET,
    occurred_before: datetime.datetime | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["actor"] = actor

    params["action"] = action

    json_entity_type: str | Unset = UNSET
    if not isinstance(entity_type, Unset):
        json_entity_type = entity_type.value

    params["entity_type"] = json_entity_type

    json_entity_id: str | Unset = UNSET
    if not isinstance(entity_id, Unset):
        json_entity_id = str(entity_id)
    params["entity_id"] = json_entity_id

    json_batch_id: str | Unset = UNSET
    if not isinstance(batch_id, Unset):
        json_batch_id = str(batch_id)
    params["batch_id"] = json_batch_id

    json_occurred_after: str | Unset = UNSET
    if not isinstance(occurred_after, Unset):
        json_occurred_after = occurred_after.isoformat()
    params["occurred_after"] = json_occurred_after

    json_occurred_before: str | Unset = UNSET
    if not isinstance(occurred_before, Unset):
        json_occurred_before = occurred_before.isoformat()
    params["occurred_before"] = json_occurred_before

    params["page_size"] = page_size

    params["page_token"] = page_token

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/audit",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> AuditPage | Problem | None:
    if response.status_code == 200:
        response_200 = AuditPage.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[AuditPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    entity_type: AuditedEntity | Unset = UNSET,
    entity_id: UUID | Unset = UNSET,
    batch_id: UUID | Unset = UNSET,
    occurred_after: datetime.datetime | Unset = UNSET,
    occurred_before: datetime.datetime | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """List Audit Entries

     Who changed what and when, newest first, of what the caller may read. Time ranges:
    after inclusive, before exclusive. Rows about webhooks and API tokens belong to no
    experiment: only admins see them.

    Args:
        actor (str | Unset):
        action (str | Unset):
        entity_type (AuditedEntity | Unset): What an audit row can be about: experiments, runs and
            capture sessions (the lifecycle's
            entities), webhooks and API tokens. Rows of webhooks and API tokens belong to no
            experiment:
            only admins read them.
        entity_id (UUID | Unset):
        batch_id (UUID | Unset):
        occurred_after (datetime.datetime | Unset):
        occurred_before (datetime.datetime | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        batch_id=batch_id,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
        page_size=page_size,
        page_token=page_token,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    entity_type: AuditedEntity | Unset = UNSET,
    entity_id: UUID | Unset = UNSET,
    batch_id: UUID | Unset = UNSET,
    occurred_after: datetime.datetime | Unset = UNSET,
    occurred_before: datetime.datetime | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> AuditPage | Problem | None:
    """List Audit Entries

     Who changed what and when, newest first, of what the caller may read. Time ranges:
    after inclusive, before exclusive. Rows about webhooks and API tokens belong to no
    experiment: only admins see them.

    Args:
        actor (str | Unset):
        action (str | Unset):
        entity_type (AuditedEntity | Unset): What an audit row can be about: experiments, runs and
            capture sessions (the lifecycle's
            entities), webhooks and API tokens. Rows of webhooks and API tokens belong to no
            experiment:
            only admins read them.
        entity_id (UUID | Unset):
        batch_id (UUID | Unset):
        occurred_after (datetime.datetime | Unset):
        occurred_before (datetime.datetime | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return sync_detailed(
        client=client,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        batch_id=batch_id,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    entity_type: AuditedEntity | Unset = UNSET,
    entity_id: UUID | Unset = UNSET,
    batch_id: UUID | Unset = UNSET,
    occurred_after: datetime.datetime | Unset = UNSET,
    occurred_before: datetime.datetime | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> Response[AuditPage | Problem]:
    """List Audit Entries

     Who changed what and when, newest first, of what the caller may read. Time ranges:
    after inclusive, before exclusive. Rows about webhooks and API tokens belong to no
    experiment: only admins see them.

    Args:
        actor (str | Unset):
        action (str | Unset):
        entity_type (AuditedEntity | Unset): What an audit row can be about: experiments, runs and
            capture sessions (the lifecycle's
            entities), webhooks and API tokens. Rows of webhooks and API tokens belong to no
            experiment:
            only admins read them.
        entity_id (UUID | Unset):
        batch_id (UUID | Unset):
        occurred_after (datetime.datetime | Unset):
        occurred_before (datetime.datetime | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AuditPage | Problem]
    """

    kwargs = _get_kwargs(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        batch_id=batch_id,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    actor: str | Unset = UNSET,
    action: str | Unset = UNSET,
    entity_type: AuditedEntity | Unset = UNSET,
    entity_id: UUID | Unset = UNSET,
    batch_id: UUID | Unset = UNSET,
    occurred_after: datetime.datetime | Unset = UNSET,
    occurred_before: datetime.datetime | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> AuditPage | Problem | None:
    """List Audit Entries

     Who changed what and when, newest first, of what the caller may read. Time ranges:
    after inclusive, before exclusive. Rows about webhooks and API tokens belong to no
    experiment: only admins see them.

    Args:
        actor (str | Unset):
        action (str | Unset):
        entity_type (AuditedEntity | Unset): What an audit row can be about: experiments, runs and
            capture sessions (the lifecycle's
            entities), webhooks and API tokens. Rows of webhooks and API tokens belong to no
            experiment:
            only admins read them.
        entity_id (UUID | Unset):
        batch_id (UUID | Unset):
        occurred_after (datetime.datetime | Unset):
        occurred_before (datetime.datetime | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AuditPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            batch_id=batch_id,
            occurred_after=occurred_after,
            occurred_before=occurred_before,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
