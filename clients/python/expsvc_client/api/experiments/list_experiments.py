from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.experiment_order_by import ExperimentOrderBy
from ...models.experiment_page import ExperimentPage
from ...models.problem import Problem
from ...models.sort_direction import SortDirection
from ...models.status import Status
from ...models.total_mode import TotalMode
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    order_by: ExperimentOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

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

    params["filter"] = filter_

    json_order_by: str | Unset = UNSET
    if not isinstance(order_by, Unset):
        json_order_by = order_by.value

    params["order_by"] = json_order_by

    json_order: str | Unset = UNSET
    if not isinstance(order, Unset):
        json_order = order.value

    params["order"] = json_order

    params["page_size"] = page_size

    params["page_token"] = page_token

    json_total: str | Unset = UNSET
    if not isinstance(total, Unset):
        json_total = total.value

    params["total"] = json_total

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/experiments",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ExperimentPage | Problem | None:
    if response.status_code == 200:
        response_200 = ExperimentPage.from_dict(response.json())

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ExperimentPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    order_by: ExperimentOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Response[ExperimentPage | Problem]:
    """List Experiments

     Filter experiments (every filter narrows: AND), ordered by ``order_by`` then id,
    keyset-paginated; newest first by default. With ``order_by=started_at`` or
    ``finished_at``, experiments without that time sort as the largest values (last in
    ascending order, first in descending). ``total=estimate|exact`` adds ``total_size``.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        order_by (ExperimentOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExperimentPage | Problem]
    """

    kwargs = _get_kwargs(
        status=status,
        tag=tag,
        filter_=filter_,
        order_by=order_by,
        order=order,
        page_size=page_size,
        page_token=page_token,
        total=total,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    order_by: ExperimentOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> ExperimentPage | Problem | None:
    """List Experiments

     Filter experiments (every filter narrows: AND), ordered by ``order_by`` then id,
    keyset-paginated; newest first by default. With ``order_by=started_at`` or
    ``finished_at``, experiments without that time sort as the largest values (last in
    ascending order, first in descending). ``total=estimate|exact`` adds ``total_size``.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        order_by (ExperimentOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExperimentPage | Problem
    """

    return sync_detailed(
        client=client,
        status=status,
        tag=tag,
        filter_=filter_,
        order_by=order_by,
        order=order,
        page_size=page_size,
        page_token=page_token,
        total=total,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    order_by: ExperimentOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Response[ExperimentPage | Problem]:
    """List Experiments

     Filter experiments (every filter narrows: AND), ordered by ``order_by`` then id,
    keyset-paginated; newest first by default. With ``order_by=started_at`` or
    ``finished_at``, experiments without that time sort as the largest values (last in
    ascending order, first in descending). ``total=estimate|exact`` adds ``total_size``.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        order_by (ExperimentOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ExperimentPage | Problem]
    """

    kwargs = _get_kwargs(
        status=status,
        tag=tag,
        filter_=filter_,
        order_by=order_by,
        order=order,
        page_size=page_size,
        page_token=page_token,
        total=total,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    order_by: ExperimentOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> ExperimentPage | Problem | None:
    """List Experiments

     Filter experiments (every filter narrows: AND), ordered by ``order_by`` then id,
    keyset-paginated; newest first by default. With ``order_by=started_at`` or
    ``finished_at``, experiments without that time sort as the largest values (last in
    ascending order, first in descending). ``total=estimate|exact`` adds ``total_size``.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        order_by (ExperimentOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ExperimentPage | Problem
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            tag=tag,
            filter_=filter_,
            order_by=order_by,
            order=order,
            page_size=page_size,
            page_token=page_token,
            total=total,
        )
    ).parsed
