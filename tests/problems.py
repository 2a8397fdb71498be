"""Assertions shared by the tests of error answers (RFC 9457 problem details)."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "instance")


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is a complete problem+json document of this status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = response.json()
    missing = [member for member in PROBLEM_MEMBERS if not problem.get(member)]
    assert not missing, f"problem lacks {missing}: {problem}"
    assert problem["type"].endswith(f"/{slug}"), problem["type"]
    assert problem["status"] == status
    assert problem["instance"] == response.request.url.path
    return problem
