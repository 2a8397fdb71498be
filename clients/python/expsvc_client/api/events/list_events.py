from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.event_page import EventPage
from ...models.list_events_type_item import ListEventsTypeItem
from ...models.list_events_versions import ListEventsVersions
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    after: int | Unset = 0,
    type_: list[ListEventsTypeItem] | Unset = UNSET,
    experiment_id: list[UUID] | Unset = UNSET,
    limit: int | Unset = 100,
    versions: ListEventsVersions | Unset = ListEventsVersions.ALL,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["after"] = after

    json_type_: list[str] | Unset = UNSET
    if not isinstance(type_, Unset):
        json_type_ = []
        for type_item_data in type_:
            type_item = type_item_data.value
            json_type_.append(type_item)

    params["type"] = json_type_

    json_experiment_id: list[str] | Unset = UNSET
    if not isinstance(experiment_id, Unset):
        json_experiment_id = []
        for experiment_id_item_data in experiment_id:
            experiment_id_item = str(experiment_id_item_data)
            json_experiment_id.append(experiment_id_item)

    params["experiment_id"] = json_experiment_id

    params["limit"] = limit

    json_versions: str | Unset = UNSET
    if not isinstance(versions, Unset):
        json_versions = versions.value

    params["versions"] = json_versions

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/events",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> EventPage | Problem | None:
    if response.status_code == 200:
        response_200 = EventPage.from_dict(response.json())

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

    if response.status_code == 410:
        response_410 = Problem.from_dict(response.json())

        return response_410

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[EventPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    after: int | Unset = 0,
    type_: list[ListEventsTypeItem] | Unset = UNSET,
    experiment_id: list[UUID] | Unset = UNSET,
    limit: int | Unset = 100,
    versions: ListEventsVersions | Unset = ListEventsVersions.ALL,
) -> Response[EventPage | Problem]:
    """List Events

     The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period. One request examines a bounded number of events: a page may be
    short, or empty, with a `next_cursor` that has moved on.

    Args:
        after (int | Unset): Return events after this cursor (a previous `next_cursor`); 0: the
            oldest. Default: 0.
        type_ (list[ListEventsTypeItem] | Unset): Only these event types, e.g. run.started (repeat
            for several).
        experiment_id (list[UUID] | Unset): Only events of these experiments: their own and their
            runs' and captures' (repeat for several).
        limit (int | Unset):  Default: 100.
        versions (ListEventsVersions | Unset): Which data versions of an event whose type changed
            incompatibly (both are published for two releases, docs/events.md): `all` of them, each
            its own envelope with the same `sequence`; or only each event's `newest` or `oldest`
            version. Default: ListEventsVersions.ALL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EventPage | Problem]
    """

    kwargs = _get_kwargs(
        after=after,
        type_=type_,
        experiment_id=experiment_id,
        limit=limit,
        versions=versions,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    after: int | Unset = 0,
    type_: list[ListEventsTypeItem] | Unset = UNSET,
    experiment_id: list[UUID] | Unset = UNSET,
    limit: int | Unset = 100,
    versions: ListEventsVersions | Unset = ListEventsVersions.ALL,
) -> EventPage | Problem | None:
    """List Events

     The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period. One request examines a bounded number of events: a page may be
    short, or empty, with a `next_cursor` that has moved on.

    Args:
        after (int | Unset): Return events after this cursor (a previous `next_cursor`); 0: the
            oldest. Default: 0.
        type_ (list[ListEventsTypeItem] | Unset): Only these event types, e.g. run.started (repeat
            for several).
        experiment_id (list[UUID] | Unset): Only events of these experiments: their own and their
            runs' and captures' (repeat for several).
        limit (int | Unset):  Default: 100.
        versions (ListEventsVersions | Unset): Which data versions of an event whose type changed
            incompatibly (both are published for two releases, docs/events.md): `all` of them, each
            its own envelope with the same `sequence`; or only each event's `newest` or `oldest`
            version. Default: ListEventsVersions.ALL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EventPage | Problem
    """

    return sync_detailed(
        client=client,
        after=after,
        type_=type_,
        experiment_id=experiment_id,
        limit=limit,
        versions=versions,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    after: int | Unset = 0,
    type_: list[ListEventsTypeItem] | Unset = UNSET,
    experiment_id: list[UUID] | Unset = UNSET,
    limit: int | Unset = 100,
    versions: ListEventsVersions | Unset = ListEventsVersions.ALL,
) -> Response[EventPage | Problem]:
    """List Events

     The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period. One request examines a bounded number of events: a page may be
    short, or empty, with a `next_cursor` that has moved on.

    Args:
        after (int | Unset): Return events after this cursor (a previous `next_cursor`); 0: the
            oldest. Default: 0.
        type_ (list[ListEventsTypeItem] | Unset): Only these event types, e.g. run.started (repeat
            for several).
        experiment_id (list[UUID] | Unset): Only events of these experiments: their own and their
            runs' and captures' (repeat for several).
        limit (int | Unset):  Default: 100.
        versions (ListEventsVersions | Unset): Which data versions of an event whose type changed
            incompatibly (both are published for two releases, docs/events.md): `all` of them, each
            its own envelope with the same `sequence`; or only each event's `newest` or `oldest`
            version. Default: ListEventsVersions.ALL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[EventPage | Problem]
    """

    kwargs = _get_kwargs(
        after=after,
        type_=type_,
        experiment_id=experiment_id,
        limit=limit,
        versions=versions,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    after: int | Unset = 0,
    type_: list[ListEventsTypeItem] | Unset = UNSET,
    experiment_id: list[UUID] | Unset = UNSET,
    limit: int | Unset = 100,
    versions: ListEventsVersions | Unset = ListEventsVersions.ALL,
) -> EventPage | Problem | None:
    """List Events

     The event log of what the caller may read, oldest first, from a cursor. Events stay
    for the retention period. One request examines a bounded number of events: a page may be
    short, or empty, with a `next_cursor` that has moved on.

    Args:
        after (int | Unset): Return events after this cursor (a previous `next_cursor`); 0: the
            oldest. Default: 0.
        type_ (list[ListEventsTypeItem] | Unset): Only these event types, e.g. run.started (repeat
            for several).
        experiment_id (list[UUID] | Unset): Only events of these experiments: their own and their
            runs' and captures' (repeat for several).
        limit (int | Unset):  Default: 100.
        versions (ListEventsVersions | Unset): Which data versions of an event whose type changed
            incompatibly (both are published for two releases, docs/events.md): `all` of them, each
            its own envelope with the same `sequence`; or only each event's `newest` or `oldest`
            version. Default: ListEventsVersions.ALL.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        EventPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            after=after,
            type_=type_,
            experiment_id=experiment_id,
            limit=limit,
            versions=versions,
        )
    ).parsed
