from http import HTTPStatus
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.artifact_page import ArtifactPage
from ...models.artifact_status import ArtifactStatus
from ...models.problem import Problem
from ...types import UNSET, Response, Unset


def _get_kwargs(
    run_id: UUID,
    *,
    status: list[ArtifactStatus] | Unset = UNSET,
    kind: str | Unset = UNSET,
    approved_model: bool | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    json_status: list[str] | Unset = UNSET
    if not isinstance(status, Unset):
        json_status = []
        for status_item_data in status:
            status_item = status_item_data.value
            json_status.append(status_item)

    params["status"] = json_status

    params["kind"] = kind

    params["approved_model"] = approved_model

    params["page_size"] = page_size

    params["page_token"] = page_token

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/runs/{run_id}/artifacts".format(
            run_id=quote(str(run_id), safe=""),
        ),
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ArtifactPage | Problem | None:
    if response.status_code == 200:
        response_200 = ArtifactPage.from_dict(response.json())

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
) -> Response[ArtifactPage | Problem]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    run_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    status: list[ArtifactStatus] | Unset = UNSET,
    kind: str | Unset = UNSET,
    approved_model: bool | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> Response[ArtifactPage | Problem]:
    """List Run Artifacts

     The run's artifacts as the Artifact Service reported them, oldest link first
    (created_at, then id), keyset-paginated; ``approved_model=true`` gives the run's approved
    model. Unknown parameters are refused.

    Args:
        run_id (UUID):
        status (list[ArtifactStatus] | Unset):
        kind (str | Unset): e.g. model, dataset, checkpoint, report (lowercase).
        approved_model (bool | Unset): true: only the run's approved model.
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ArtifactPage | Problem]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        status=status,
        kind=kind,
        approved_model=approved_model,
        page_size=page_size,
        page_token=page_token,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    run_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    status: list[ArtifactStatus] | Unset = UNSET,
    kind: str | Unset = UNSET,
    approved_model: bool | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> ArtifactPage | Problem | None:
    """List Run Artifacts

     The run's artifacts as the Artifact Service reported them, oldest link first
    (created_at, then id), keyset-paginated; ``approved_model=true`` gives the run's approved
    model. Unknown parameters are refused.

    Args:
        run_id (UUID):
        status (list[ArtifactStatus] | Unset):
        kind (str | Unset): e.g. model, dataset, checkpoint, report (lowercase).
        approved_model (bool | Unset): true: only the run's approved model.
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ArtifactPage | Problem
    """

    return sync_detailed(
        run_id=run_id,
        client=client,
        status=status,
        kind=kind,
        approved_model=approved_model,
        page_size=page_size,
        page_token=page_token,
    ).parsed


async def asyncio_detailed(
    run_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    status: list[ArtifactStatus] | Unset = UNSET,
    kind: str | Unset = UNSET,
    approved_model: bool | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> Response[ArtifactPage | Problem]:
    """List Run Artifacts

     The run's artifacts as the Artifact Service reported them, oldest link first
    (created_at, then id), keyset-paginated; ``approved_model=true`` gives the run's approved
    model. Unknown parameters are refused.

    Args:
        run_id (UUID):
        status (list[ArtifactStatus] | Unset):
        kind (str | Unset): e.g. model, dataset, checkpoint, report (lowercase).
        approved_model (bool | Unset): true: only the run's approved model.
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ArtifactPage | Problem]
    """

    kwargs = _get_kwargs(
        run_id=run_id,
        status=status,
        kind=kind,
        approved_model=approved_model,
        page_size=page_size,
        page_token=page_token,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    run_id: UUID,
    *,
    client: AuthenticatedClient | Client,
    status: list[ArtifactStatus] | Unset = UNSET,
    kind: str | Unset = UNSET,
    approved_model: bool | Unset = UNSET,
    page_size: int | Unset = 50,
    page_token: str | Unset = UNSET,
) -> ArtifactPage | Problem | None:
    """List Run Artifacts

     The run's artifacts as the Artifact Service reported them, oldest link first
    (created_at, then id), keyset-paginated; ``approved_model=true`` gives the run's approved
    model. Unknown parameters are refused.

    Args:
        run_id (UUID):
        status (list[ArtifactStatus] | Unset):
        kind (str | Unset): e.g. model, dataset, checkpoint, report (lowercase).
        approved_model (bool | Unset): true: only the run's approved model.
        page_size (int | Unset):  Default: 50.
        page_token (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ArtifactPage | Problem
    """

    return (
        await asyncio_detailed(
            run_id=run_id,
            client=client,
            status=status,
            kind=kind,
            approved_model=approved_model,
            page_size=page_size,
            page_token=page_token,
        )
    ).parsed
