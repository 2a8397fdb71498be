"""The committed OpenAPI document is the app's, and it is fit to generate an SDK from."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest

from expsvc.errors import PROBLEM_MEDIA_TYPE
from expsvc.openapi import build_openapi, render_openapi
from tests.conftest import ROOT

COMMITTED = ROOT / "docs" / "openapi" / "v1.json"
SDK_SOURCE = ROOT / "clients" / "python" / "openapi.sha256"
REGENERATE = "scripts/generate-sdk   (writes docs/openapi/v1.json and clients/python/)"
MAX_DIFF_LINES = 60

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# What FastAPI derives when a route names no operation id: the function, the path, the method.
GENERATED_ID = re.compile(r"(?:^|_)v1(?:_|$)|_(?:get|post|put|patch|delete)$")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi()


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _short_diff(committed: str, current: str) -> str:
    lines = list(
        difflib.unified_diff(
            committed.splitlines(),
            current.splitlines(),
            "docs/openapi/v1.json (committed)",
            "app (current)",
            n=2,
            lineterm="",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines"]
    return "\n".join(lines)


def test_committed_document_is_the_apps(document: dict[str, Any]) -> None:
    current = render_openapi(document)
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    if committed != current:
        pytest.fail(
            f"docs/openapi/v1.json is stale; regenerate it with\n    {REGENERATE}\n\n"
            + _short_diff(committed, current),
            pytrace=False,
        )


def test_sdk_was_generated_from_the_committed_document() -> None:
    """A cheap guard; CI's scripts/check-generated regenerates the SDK and compares it all."""
    recorded = SDK_SOURCE.read_text().split()[0]
    actual = hashlib.sha256(COMMITTED.read_bytes()).hexdigest()
    assert recorded == actual, f"clients/python is stale; regenerate it with\n    {REGENERATE}"


def test_rendering_is_stable(document: dict[str, Any]) -> None:
    assert render_openapi(build_openapi()) == render_openapi(document)
    assert render_openapi(document).endswith("}\n")


def test_operation_ids_are_unique_snake_case_method_names(document: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        operation_id = operation.get("operationId", "")
        assert SNAKE_CASE.fullmatch(operation_id), f"{where}: operationId {operation_id!r}"
        assert not GENERATED_ID.search(operation_id), f"{where}: {operation_id!r} is FastAPI's"
        assert operation_id not in seen, f"{where} and {seen[operation_id]}: {operation_id!r}"
        seen[operation_id] = where


def test_every_operation_declares_its_errors_as_problems(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        where = f"{method} {path}"
        responses: dict[str, Any] = operation["responses"]
        takes_input = bool(operation.get("parameters")) or "requestBody" in operation
        required = {"500", "503"} | ({"422"} if takes_input else set())
        assert required <= set(responses), f"{where} lacks {sorted(required - set(responses))}"
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                content = response.get("content", {})
                assert list(content) == [PROBLEM_MEDIA_TYPE], f"{where} {code}: {list(content)}"
                assert content[PROBLEM_MEDIA_TYPE]["schema"], f"{where} {code}: no schema"
        assert list(responses) == sorted(responses), f"{where}: status codes out of order"


def test_every_success_names_its_body(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if code.startswith("2") and code != "204":
                content = response.get("content", {})
                assert content, f"{method} {path} {code}: no content"
                for media_type, entry in content.items():
                    assert entry.get("schema"), f"{method} {path} {code} {media_type}: no schema"


def test_no_fastapi_default_validation_error_is_left(document: dict[str, Any]) -> None:
    text = render_openapi(document)
    assert "HTTPValidationError" not in text
    assert '"#/components/schemas/ValidationError"' not in text


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    text = render_openapi(document)
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', text))
    assert references <= set(schemas), sorted(references - set(schemas))
