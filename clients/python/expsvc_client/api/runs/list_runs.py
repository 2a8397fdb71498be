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
from ...models.total_mode import TotalMode
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    experiment_id: list[UUID] | Unset = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    tag_any: list[str] | Unset = UNSET,
    tag_none: list[str] | Unset = UNSET,
    name_prefix: str | Unset = UNSET,
    name_contains: str | Unset = UNSET,
    git_sha: str | Unset = UNSET,
    git_branch: list[str] | Unset = UNSET,
    participant: list[str] | Unset = UNSET,
    sensor: list[str] | Unset = UNSET,
    created_by: list[str] | Unset = UNSET,
    params: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    started_after: datetime.datetime | Unset = UNSET,
    started_before: datetime.datetime | Unset = UNSET,
    finished_after: datetime.datetime | Unset = UNSET,
    finished_before: datetime.datetime | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_experiment_id: list[str] | Unset = UNSET
    if not isinstance(experiment_id, Unset):
        json_experiment_id = []
        for experiment_id_item_data in experiment_id:
            experiment_id_item = str(experiment_id_item_data)
            json_experiment_id.append(experiment_id_item)

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

    json_tag_any: list[str] | Unset = UNSET
    if not isinstance(tag_any, Unset):
        json_tag_any = tag_any

    params["tag_any"] = json_tag_any

    json_tag_none: list[str] | Unset = UNSET
    if not isinstance(tag_none, Unset):
        json_tag_none = tag_none

    params["tag_none"] = json_tag_none

    params["name_prefix"] = name_prefix

    params["name_contains"] = name_contains

    params["git_sha"] = git_sha

    json_git_branch: list[str] | Unset = UNSET
    if not isinstance(git_branch, Unset):
        json_git_branch = git_branch

    params["git_branch"] = json_git_branch

    json_participant: list[str] | Unset = UNSET
    if not isinstance(participant, Unset):
        json_participant = participant

    params["participant"] = json_participant

    json_sensor: list[str] | Unset = UNSET
    if not isinstance(sensor, Unset):
        json_sensor = sensor

    params["sensor"] = json_sensor

    json_created_by: list[str] | Unset = UNSET
    if not isinstance(created_by, Unset):
        json_created_by = created_by

    params["created_by"] = json_created_by

    json_params: list[str] | Unset = UNSET
    if not isinstance(params, Unset):
        json_params = params

    params["params"] = json_params

    params["filter"] = filter_

    json_created_after: str | Unset = UNSET
    if not isinstance(created_after, Unset):
        json_created_after = created_after.isoformat()
    params["created_after"] = json_created_after

    json_created_before: str | Unset = UNSET
    if not isinstance(created_before, Unset):
        json_created_before = created_before.isoformat()
    params["created_before"] = json_created_before

    json_started_after: str | Unset = UNSET
    if not isinstance(started_after, Unset):
        json_started_after = started_after.isoformat()
    params["started_after"] = json_started_after

    json_started_before: str | Unset = UNSET
    if not isinstance(started_before, Unset):
        json_started_before = started_before.isoformat()
    params["started_before"] = json_started_before

    json_finished_after: str | Unset = UNSET
    if not isinstance(finished_after, Unset):
        json_finished_after = finished_after.isoformat()
    params["finished_after"] = json_finished_after

    json_finished_before: str | Unset = UNSET
    if not isinstance(finished_before, Unset):
        json_finished_before = finished_before.isoformat()
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

    params["page_token"] = page_token

    json_total: str | Unset = UNSET
    if not isinstance(total, Unset):
        json_total = total.value

    params["total"] = json_total

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
    experiment_id: list[UUID] | Unset = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    tag_any: list[str] | Unset = UNSET,
    tag_none: list[str] | Unset = UNSET,
    name_prefix: str | Unset = UNSET,
    name_contains: str | Unset = UNSET,
    git_sha: str | Unset = UNSET,
    git_branch: list[str] | Unset = UNSET,
    participant: list[str] | Unset = UNSET,
    sensor: list[str] | Unset = UNSET,
    created_by: list[str] | Unset = UNSET,
    params: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    started_after: datetime.datetime | Unset = UNSET,
    started_before: datetime.datetime | Unset = UNSET,
    finished_after: datetime.datetime | Unset = UNSET,
    finished_before: datetime.datetime | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Response[Problem | RunPage]:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Typed filters and ``filter`` (an AIP-160 expression, docs/filtering.md) combine with AND;
    a filter that does not parse, names an unknown field or is too complex is a 400 problem.
    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Pages are keyset pages: runs created while
    paging never repeat or shift a page. Unknown parameters are refused.

    Args:
        experiment_id (list[UUID] | Unset): Runs of any of these experiments.
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        tag_any (list[str] | Unset): Runs carrying any of these tags.
        tag_none (list[str] | Unset): Runs carrying none of these tags.
        name_prefix (str | Unset):
        name_contains (str | Unset): Runs whose name contains this text, ignoring case.
        git_sha (str | Unset): A full commit id or a prefix of at least 7 hex characters (else
            400).
        git_branch (list[str] | Unset): Runs on any of these branches.
        participant (list[str] | Unset): Runs with any of these participants.
        sensor (list[str] | Unset): Runs with a capture session linked to any of these sensors.
        created_by (list[str] | Unset): Runs created by any of these.
        params (list[str] | Unset): Comparisons on params, all of which must hold: `key=value`,
            `key!=value`, `key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the
            key.
        filter_ (str | Unset): An expression over the same fields (AIP-160 subset: AND, OR, NOT,
            parentheses, = != < <= > >= and : for has), e.g. `status = "running" AND params.lr <
            0.01`; see docs/filtering.md.
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        started_after (datetime.datetime | Unset):
        started_before (datetime.datetime | Unset):
        finished_after (datetime.datetime | Unset):
        finished_before (datetime.datetime | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

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
        tag_any=tag_any,
        tag_none=tag_none,
        name_prefix=name_prefix,
        name_contains=name_contains,
        git_sha=git_sha,
        git_branch=git_branch,
        participant=participant,
        sensor=sensor,
        created_by=created_by,
        params=params,
        filter_=filter_,
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
        total=total,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: list[UUID] | Unset = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    tag_any: list[str] | Unset = UNSET,
    tag_none: list[str] | Unset = UNSET,
    name_prefix: str | Unset = UNSET,
    name_contains: str | Unset = UNSET,
    git_sha: str | Unset = UNSET,
    git_branch: list[str] | Unset = UNSET,
    participant: list[str] | Unset = UNSET,
    sensor: list[str] | Unset = UNSET,
    created_by: list[str] | Unset = UNSET,
    params: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    started_after: datetime.datetime | Unset = UNSET,
    started_before: datetime.datetime | Unset = UNSET,
    finished_after: datetime.datetime | Unset = UNSET,
    finished_before: datetime.datetime | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Problem | RunPage | None:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Typed filters and ``filter`` (an AIP-160 expression, docs/filtering.md) combine with AND;
    a filter that does not parse, names an unknown field or is too complex is a 400 problem.
    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Pages are keyset pages: runs created while
    paging never repeat or shift a page. Unknown parameters are refused.

    Args:
        experiment_id (list[UUID] | Unset): Runs of any of these experiments.
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        tag_any (list[str] | Unset): Runs carrying any of these tags.
        tag_none (list[str] | Unset): Runs carrying none of these tags.
        name_prefix (str | Unset):
        name_contains (str | Unset): Runs whose name contains this text, ignoring case.
        git_sha (str | Unset): A full commit id or a prefix of at least 7 hex characters (else
            400).
        git_branch (list[str] | Unset): Runs on any of these branches.
        participant (list[str] | Unset): Runs with any of these participants.
        sensor (list[str] | Unset): Runs with a capture session linked to any of these sensors.
        created_by (list[str] | Unset): Runs created by any of these.
        params (list[str] | Unset): Comparisons on params, all of which must hold: `key=value`,
            `key!=value`, `key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the
            key.
        filter_ (str | Unset): An expression over the same fields (AIP-160 subset: AND, OR, NOT,
            parentheses, = != < <= > >= and : for has), e.g. `status = "running" AND params.lr <
            0.01`; see docs/filtering.md.
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        started_after (datetime.datetime | Unset):
        started_before (datetime.datetime | Unset):
        finished_after (datetime.datetime | Unset):
        finished_before (datetime.datetime | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

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
        tag_any=tag_any,
        tag_none=tag_none,
        name_prefix=name_prefix,
        name_contains=name_contains,
        git_sha=git_sha,
        git_branch=git_branch,
        participant=participant,
        sensor=sensor,
        created_by=created_by,
        params=params,
        filter_=filter_,
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
        total=total,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: list[UUID] | Unset = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    tag_any: list[str] | Unset = UNSET,
    tag_none: list[str] | Unset = UNSET,
    name_prefix: str | Unset = UNSET,
    name_contains: str | Unset = UNSET,
    git_sha: str | Unset = UNSET,
    git_branch: list[str] | Unset = UNSET,
    participant: list[str] | Unset = UNSET,
    sensor: list[str] | Unset = UNSET,
    created_by: list[str] | Unset = UNSET,
    params: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    started_after: datetime.datetime | Unset = UNSET,
    started_before: datetime.datetime | Unset = UNSET,
    finished_after: datetime.datetime | Unset = UNSET,
    finished_before: datetime.datetime | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Response[Problem | RunPage]:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Typed filters and ``filter`` (an AIP-160 expression, docs/filtering.md) combine with AND;
    a filter that does not parse, names an unknown field or is too complex is a 400 problem.
    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Pages are keyset pages: runs created while
    paging never repeat or shift a page. Unknown parameters are refused.

    Args:
        experiment_id (list[UUID] | Unset): Runs of any of these experiments.
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        tag_any (list[str] | Unset): Runs carrying any of these tags.
        tag_none (list[str] | Unset): Runs carrying none of these tags.
        name_prefix (str | Unset):
        name_contains (str | Unset): Runs whose name contains this text, ignoring case.
        git_sha (str | Unset): A full commit id or a prefix of at least 7 hex characters (else
            400).
        git_branch (list[str] | Unset): Runs on any of these branches.
        participant (list[str] | Unset): Runs with any of these participants.
        sensor (list[str] | Unset): Runs with a capture session linked to any of these sensors.
        created_by (list[str] | Unset): Runs created by any of these.
        params (list[str] | Unset): Comparisons on params, all of which must hold: `key=value`,
            `key!=value`, `key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the
            key.
        filter_ (str | Unset): An expression over the same fields (AIP-160 subset: AND, OR, NOT,
            parentheses, = != < <= > >= and : for has), e.g. `status = "running" AND params.lr <
            0.01`; see docs/filtering.md.
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        started_after (datetime.datetime | Unset):
        started_before (datetime.datetime | Unset):
        finished_after (datetime.datetime | Unset):
        finished_before (datetime.datetime | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

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
        tag_any=tag_any,
        tag_none=tag_none,
        name_prefix=name_prefix,
        name_contains=name_contains,
        git_sha=git_sha,
        git_branch=git_branch,
        participant=participant,
        sensor=sensor,
        created_by=created_by,
        params=params,
        filter_=filter_,
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
        total=total,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    experiment_id: list[UUID] | Unset = UNSET,
    status: list[Status] | Unset = UNSET,
    tag: list[str] | Unset = UNSET,
    tag_any: list[str] | Unset = UNSET,
    tag_none: list[str] | Unset = UNSET,
    name_prefix: str | Unset = UNSET,
    name_contains: str | Unset = UNSET,
    git_sha: str | Unset = UNSET,
    git_branch: list[str] | Unset = UNSET,
    participant: list[str] | Unset = UNSET,
    sensor: list[str] | Unset = UNSET,
    created_by: list[str] | Unset = UNSET,
    params: list[str] | Unset = UNSET,
    filter_: str | Unset = UNSET,
    created_after: datetime.datetime | Unset = UNSET,
    created_before: datetime.datetime | Unset = UNSET,
    started_after: datetime.datetime | Unset = UNSET,
    started_before: datetime.datetime | Unset = UNSET,
    finished_after: datetime.datetime | Unset = UNSET,
    finished_before: datetime.datetime | Unset = UNSET,
    order_by: RunOrderBy | Unset = UNSET,
    order: SortDirection | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
    total: TotalMode | Unset = UNSET,
) -> Problem | RunPage | None:
    """List Runs

     Filter runs (every filter narrows: AND), ordered by ``order_by`` then id.

    Typed filters and ``filter`` (an AIP-160 expression, docs/filtering.md) combine with AND;
    a filter that does not parse, names an unknown field or is too complex is a 400 problem.
    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive. With
    ``order_by=started_at`` or ``finished_at``, runs without that time sort as the largest
    values (last ascending, first descending). Pages are keyset pages: runs created while
    paging never repeat or shift a page. Unknown parameters are refused.

    Args:
        experiment_id (list[UUID] | Unset): Runs of any of these experiments.
        status (list[Status] | Unset):
        tag (list[str] | Unset): Runs carrying all of these tags.
        tag_any (list[str] | Unset): Runs carrying any of these tags.
        tag_none (list[str] | Unset): Runs carrying none of these tags.
        name_prefix (str | Unset):
        name_contains (str | Unset): Runs whose name contains this text, ignoring case.
        git_sha (str | Unset): A full commit id or a prefix of at least 7 hex characters (else
            400).
        git_branch (list[str] | Unset): Runs on any of these branches.
        participant (list[str] | Unset): Runs with any of these participants.
        sensor (list[str] | Unset): Runs with a capture session linked to any of these sensors.
        created_by (list[str] | Unset): Runs created by any of these.
        params (list[str] | Unset): Comparisons on params, all of which must hold: `key=value`,
            `key!=value`, `key<value` (also <=, >, >=) on numbers or strings, or `key` alone: has the
            key.
        filter_ (str | Unset): An expression over the same fields (AIP-160 subset: AND, OR, NOT,
            parentheses, = != < <= > >= and : for has), e.g. `status = "running" AND params.lr <
            0.01`; see docs/filtering.md.
        created_after (datetime.datetime | Unset):
        created_before (datetime.datetime | Unset):
        started_after (datetime.datetime | Unset):
        started_before (datetime.datetime | Unset):
        finished_after (datetime.datetime | Unset):
        finished_before (datetime.datetime | Unset):
        order_by (RunOrderBy | Unset):
        order (SortDirection | Unset):
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):
        total (TotalMode | Unset):

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
            tag_any=tag_any,
            tag_none=tag_none,
            name_prefix=name_prefix,
            name_contains=name_contains,
            git_sha=git_sha,
            git_branch=git_branch,
            participant=participant,
            sensor=sensor,
            created_by=created_by,
            params=params,
            filter_=filter_,
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
            total=total,
        )
    ).parsed
