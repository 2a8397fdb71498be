import datetime
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.problem import Problem
from ...models.run_order_by import RunOrderBy
from ...models.run_page import RunPage
from ...models.sort_direction import SortDirection
from ...models.status import Status
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    experiment_id: None | Unset | UUID = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    name_prefix: None | str | Unset = UNSET,
    created_after: datetime.datetime | None | Unset = UNSET,
    created_before: datetime.datetime | None | Unset = UNSET,
    started_after: datetime.datetime | None | Unset = UNSET,
    started_before: datetime.datetime | None | Unset = UNSET,
    finished_after: datetime.datetime | None | Unset = UNSET,
    finished_before: datetime.datetime | None | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: None | str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_experiment_id: None | str | Unset
    if isinstance(experiment_id, Unset):
        json_experiment_id = UNSET
    elif isinstance(experiment_id, UUID):
        json_experiment_id = str(experiment_id)
    else:
        json_experiment_id = experiment_id
    params["experiment_id"] = json_experiment_id

    json_status: list[str] | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = []
        for status_item_data in status:
            status_item = status_item_data.value
            json_status.append(status_item)

    params["status"] = json_status

    json_tag: list[str] | Unset = UNSET
    if not isinstance(tag, Unset):
        json_tag = tag

    params["tag"] = json_tag

    json_name_prefix: None | str | Unset
    if isinstance(name_prefix, Unset):
        json_name_prefix = UNSET
    else:
        json_name_prefix = name_prefix
    params["name_prefix"] = json_name_prefix

    json_created_after: None | str | Unset
    if isinstance(created_after, Unset):
        json_created_after = UNSET
    elif isinstance(created_after, datetime.datetime):
        json_created_after = created_after.isoformat()
    else:
        json_created_after = created_after
    params["created_after"] = json_created_after

    json_created_before: None | str | Unset
    if isinstance(created_before, Unset):
        json_created_before = UNSET
    elif isinstance(created_before, datetime.datetime):
        json_created_before = created_before.isoformat()
    else:
        json_created_before = created_before
    params["created_before"] = json_created_before

    json_started_after: None | str | Unset
    if isinstance(started_after, Unset):
        json_started_after = UNSET
    elif isinstance(started_after, datetime.datetime):
        json_started_after = started_after.isoformat()
    else:
        json_started_after = started_after
    params["started_after"] = json_started_after

    json_started_before: None | str | Unset
    if isinstance(started_before, Unset):
        json_started_before = UNSET
    elif isinstance(started_before, datetime.datetime):
        json_started_before = started_before.isoformat()
    else:
        json_started_before = started_before
    params["started_before"] = json_started_before

    json_finished_after: None | str | Unset
    if isinstance(finished_after, Unset):
        json_finished_after = UNSET
    elif isinstance(finished_after, datetime.datetime):
        json_finished_after = finished_after.isoformat()
    else:
        json_finished_after = finished_after
    params["finished_after"] = json_finished_after

    json_finished_before: None | str | Unset
    if isinstance(finished_before, Unset):
        json_finished_before = UNSET
    elif isinstance(finished_before, datetime.datetime):
        json_finished_before = finished_before.isoformat()
    else:
        json_finished_before = finished_before
    params["finished_before"] = json_finished_before

    json_order_by: str | Unset = UNSET
    if not isinstance(order_by, Unset):
        json_order_by = order_by.value

    params["order_by"] = json_order_by

    json_order: str | Unset = UNSET
    if not isinstance(order, Unset):
        json_order = order.value

    params["order"] = json_order

    params["page_size"] = page_size

    json_page_token: None | str | Unset
    if isinstance(page_token, Unset):
        json_page_token = UNSET
    else:
        json_page_token = page_token
    params["page_token"] = json_page_token

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | RunPage | None:
    if response.status_code == 200:
        response_200 = RunPage.from_dict(response.json())

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | RunPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: None | Unset | UUID = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    name_prefix: None | str | Unset = UNSET,
    created_after: datetime.datetime | None | Unset = UNSET,
    created_before: datetime.datetime | None | Unset = UNSET,
    started_after: datetime.datetime | None | Unset = UNSET,
    started_before: datetime.datetime | None | Unset = UNSET,
    finished_after: datetime.datetime | None | Unset = UNSET,
    finished_before: datetime.datetime | None | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: None | str | Unset = UNSET,
) -> Response[Problem | RunPage]:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Unknown parameters are refused.

    Args:
        experiment_id (None | Unset | UUID):
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        name_prefix (None | str | Unset):
        created_after (datetime.datetime | None | Unset):
        created_before (datetime.datetime | None | Unset):
        started_after (datetime.datetime | None | Unset):
        started_before (datetime.datetime | None | Unset):
        finished_after (datetime.datetime | None | Unset):
        finished_before (datetime.datetime | None | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RunPage]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        status=status,
        tag=tag,
        name_prefix=name_prefix,
        created_after=created_after,
        created_before=created_before,
        started_after=started_after,
        started_before=started_before,
        finished_after=finished_after,
        finished_before=finished_before,
        order_by=order_by,
        order=order,
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
    experiment_id: None | Unset | UUID = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    name_prefix: None | str | Unset = UNSET,
    created_after: datetime.datetime | None | Unset = UNSET,
    created_before: datetime.datetime | None | Unset = UNSET,
    started_after: datetime.datetime | None | Unset = UNSET,
    started_before: datetime.datetime | None | Unset = UNSET,
    finished_after: datetime.datetime | None | Unset = UNSET,
    finished_before: datetime.datetime | None | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: None | str | Unset = UNSET,
) -> Problem | RunPage | None:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Unknown parameters are refused.

    Args:
        experiment_id (None | Unset | UUID):
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        name_prefix (None | str | Unset):
        created_after (datetime.datetime | None | Unset):
        created_before (datetime.datetime | None | Unset):
        started_after (datetime.datetime | None | Unset):
        started_before (datetime.datetime | None | Unset):
        finished_after (datetime.datetime | None | Unset):
        finished_before (datetime.datetime | None | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RunPage
    """

    return sync_detailed(
        client=client,
        experiment_id=experiment_id,
        status=status,
        tag=tag,
        name_prefix=name_prefix,
        created_after=created_after,
        created_before=created_before,
        started_after=started_after,
        started_before=started_before,
        finished_after=finished_after,
        finished_before=finished_before,
        order_by=order_by,
        order=order,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: None | Unset | UUID = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    name_prefix: None | str | Unset = UNSET,
    created_after: datetime.datetime | None | Unset = UNSET,
    created_before: datetime.datetime | None | Unset = UNSET,
    started_after: datetime.datetime | None | Unset = UNSET,
    started_before: datetime.datetime | None | Unset = UNSET,
    finished_after: datetime.datetime | None | Unset = UNSET,
    finished_before: datetime.datetime | None | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: None | str | Unset = UNSET,
) -> Response[Problem | RunPage]:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Unknown parameters are refused.

    Args:
        experiment_id (None | Unset | UUID):
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        name_prefix (None | str | Unset):
        created_after (datetime.datetime | None | Unset):
        created_before (datetime.datetime | None | Unset):
        started_after (datetime.datetime | None | Unset):
        started_before (datetime.datetime | None | Unset):
        finished_after (datetime.datetime | None | Unset):
        finished_before (datetime.datetime | None | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | RunPage]
    """

    kwargs = _get_kwargs(
        experiment_id=experiment_id,
        status=status,
        tag=tag,
        name_prefix=name_prefix,
        created_after=created_after,
        created_before=created_before,
        started_after=started_after,
        started_before=started_before,
        finished_after=finished_after,
        finished_before=finished_before,
        order_by=order_by,
        order=order,
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: None | Unset | UUID = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    name_prefix: None | str | Unset = UNSET,
    created_after: datetime.datetime | None | Unset = UNSET,
    created_before: datetime.datetime | None | Unset = UNSET,
    started_after: datetime.datetime | None | Unset = UNSET,
    started_before: datetime.datetime | None | Unset = UNSET,
    finished_after: datetime.datetime | None | Unset = UNSET,
    finished_before: datetime.datetime | None | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: None | str | Unset = UNSET,
) -> Problem | RunPage | None:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Unknown parameters are refused.

    Args:
        experiment_id (None | Unset | UUID):
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        name_prefix (None | str | Unset):
        created_after (datetime.datetime | None | Unset):
        created_before (datetime.datetime | None | Unset):
        started_after (datetime.datetime | None | Unset):
        started_before (datetime.datetime | None | Unset):
        finished_after (datetime.datetime | None | Unset):
        finished_before (datetime.datetime | None | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | RunPage
    """

    return (
        await asyncio_detailed(
            client=client,
            experiment_id=experiment_id,
            status=status,
            tag=tag,
            name_prefix=name_prefix,
            created_after=created_after,
            created_before=created_before,
            started_after=started_after,
            started_before=started_before,
            finished_after=finished_after,
            finished_before=finished_before,
            order_by=order_by,
            order=order,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
