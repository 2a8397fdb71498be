"""Input PostgreSQL cannot store is the client's 422, not a 500 (found by schemathesis)."""

from __future__ import annotations

import httpx
import pytest

from expsvc.errors import PROBLEM_MEDIA_TYPE

LONE_SURROGATE = '"\\ud800"'  # valid JSON, not encodable as UTF-8


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param(
            '{"name": "x", "params": {"n": 18446744073709551616}}',
            "/body/params",
            id="int-beyond-64-bits",
        ),
        pytest.param('{"name": "a\\u0000b"}', "/body", id="nul-in-name"),
        pytest.param('{"name": "x", "params": {"k\\u0000": 1}}', "/body", id="nul-in-params-key"),
        pytest.param(
            '{"name": "x", "params": {"k": ["\\u0000"]}}', "/body", id="nul-in-params-value"
        ),
        pytest.param(
            f'{{"name": "x", "description": {LONE_SURROGATE}}}', "/body", id="lone-surrogate"
        ),
    ],
)
async def test_unstorable_body_is_refused(
    client: httpx.AsyncClient, body: str, pointer: str
) -> None:
    response = await client.post(
        "/v1/experiments", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert [error["pointer"] for error in response.json()["errors"]] == [pointer]


async def test_unstorable_query_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/runs", params={"name_prefix": "a\x00"})
    assert response.status_code == 422, response.text
