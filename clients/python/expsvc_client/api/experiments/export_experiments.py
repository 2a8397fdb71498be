from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.export_format import ExportFormat
from ...models.problem import Problem
from ...models.status import Status
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    format_: ExportFormat | Unset = UNSET,
    fields: str | Unset = UNSET,
    after: UUID | Unset = UNSET,
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

    json_format_: str | Unset = UNSET
    if not isinstance(format_, Unset):
        json_format_ = format_.value

    params["format"] = json_format_

    params["fields"] = fields

    json_after: str | Unset = UNSET
    if not isinstance(after, Unset):
        json_after = str(after)
    params["after"] = json_after

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/experiments/export",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Problem | str | None:
    if response.status_code == 200:
        response_200 = response.text
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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[Problem | str]:
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
    format_: ExportFormat | Unset = UNSET,
    fields: str | Unset = UNSET,
    after: UUID | Unset = UNSET,
) -> Response[Problem | str]:
    """Export Experiments

     Export the experiments `GET /v1/experiments` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read, of the experiments the caller may read.
    Interrupted? Ask again with `after` = the id of the last experiment received.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        format_ (ExportFormat | Unset):
        fields (str | Unset): Comma-separated fields to export, in this order (default: every
            field of the entity as the API shows it). An unknown field is refused (422).
        after (UUID | Unset): Resume key: export only what comes after this id. Exports are in id
            order, so the id of the last record received continues an interrupted export.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        status=status,
        tag=tag,
        filter_=filter_,
        format_=format_,
        fields=fields,
        after=after,
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
    format_: ExportFormat | Unset = UNSET,
    fields: str | Unset = UNSET,
    after: UUID | Unset = UNSET,
) -> Problem | str | None:
    """Export Experiments

     Export the experiments `GET /v1/experiments` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read, of the experiments the caller may read.
    Interrupted? Ask again with `after` = the id of the last experiment received.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        format_ (ExportFormat | Unset):
        fields (str | Unset): Comma-separated fields to export, in this order (default: every
            field of the entity as the API shows it). An unknown field is refused (422).
        after (UUID | Unset): Resume key: export only what comes after this id. Exports are in id
            order, so the id of the last record received continues an interrupted export.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return sync_detailed(
        client=client,
        status=status,
        tag=tag,
        filter_=filter_,
        format_=format_,
        fields=fields,
        after=after,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    format_: ExportFormat | Unset = UNSET,
    fields: str | Unset = UNSET,
    after: UUID | Unset = UNSET,
) -> Response[Problem | str]:
    """Export Experiments

     Export the experiments `GET /v1/experiments` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read, of the experiments the caller may read.
    Interrupted? Ask again with `after` = the id of the last experiment received.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        format_ (ExportFormat | Unset):
        fields (str | Unset): Comma-separated fields to export, in this order (default: every
            field of the entity as the API shows it). An unknown field is refused (422).
        after (UUID | Unset): Resume key: export only what comes after this id. Exports are in id
            order, so the id of the last record received continues an interrupted export.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Problem | str]
    """

    kwargs = _get_kwargs(
        status=status,
        tag=tag,
        filter_=filter_,
        format_=format_,
        fields=fields,
        after=after,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    format_: ExportFormat | Unset = UNSET,
    fields: str | Unset = UNSET,
    after: UUID | Unset = UNSET,
) -> Problem | str | None:
    """Export Experiments

     Export the experiments `GET /v1/experiments` would list with these filters, in id order.

    One consistent snapshot, streamed as it is read, of the experiments the caller may read.
    Interrupted? Ask again with `after` = the id of the last experiment received.

    Args:
        status (list[Status] | Unset): Experiments in any of these statuses.
        tag (list[str] | Unset): Experiments carrying all these tags.
        filter_ (str | Unset): An expression over the experiments' fields (AIP-160 subset: AND,
            OR, NOT, parentheses, = != < <= > >= and : for has), e.g. `tags:vision AND
            participants:"alice"`; see docs/filtering.md.
        format_ (ExportFormat | Unset):
        fields (str | Unset): Comma-separated fields to export, in this order (default: every
            field of the entity as the API shows it). An unknown field is refused (422).
        after (UUID | Unset): Resume key: export only what comes after this id. Exports are in id
            order, so the id of the last record received continues an interrupted export.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Problem | str
    """

    return (
        await asyncio_detailed(
            client=client,
            status=status,
            tag=tag,
            filter_=filter_,
            format_=format_,
            fields=fields,
            after=after,
        )
    ).parsed
