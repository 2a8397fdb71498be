"""The OpenAPI compatibility checker names each kind of break (docs/adr/0021)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from expsvc.release.api_compat import Break, breaking_changes

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _document() -> dict[str, Any]:
    """A small document in the shape FastAPI writes: $refs, nullable anyOf, enums, limits."""
    run = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"$ref": "#/components/schemas/Status"},
            "name": {"type": "string", "maxLength": 200},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "parent": {"anyOf": [{"$ref": "#/components/schemas/Run"}, {"type": "null"}]},
        },
        "required": ["id", "status", "name", "tags"],
    }
    create = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "count": {"type": "integer", "minimum": 0},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["name"],
    }
    return {
        "openapi": "3.1.0",
        "paths": {
            "/v1/runs": {
                "get": {
                    "parameters": [
                        {"name": "page_size", "in": "query", "schema": {"type": "integer"}},
                        {"$ref": "#/components/parameters/Status"},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Run"},
                                    }
                                }
                            },
                            "headers": {"ETag": {"schema": {"type": "string"}}},
                        },
                        "404": {"description": "none", "content": _PROBLEM},
                    },
                },
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Create"}}
                        },
                    },
                    "responses": {"201": {"$ref": "#/components/responses/Created"}},
                },
            },
            "/v1/runs/{run_id}": {
                "parameters": [
                    {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "delete": {"responses": {"204": {"description": "gone"}}},
            },
        },
        "components": {
            "schemas": {
                "Run": run,
                "Create": create,
                "Status": {"type": "string", "enum": ["draft", "running"]},
                "Problem": {"type": "object", "properties": {"title": {"type": "string"}}},
            },
            "parameters": {
                "Status": {"name": "status", "in": "query", "schema": {"type": "string"}}
            },
            "responses": {
                "Created": {
                    "description": "created",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Run"}}
                    },
                }
            },
        },
    }


def _codes(new: dict[str, Any]) -> list[tuple[str, str]]:
    return [(found.code, found.where) for found in breaking_changes(_document(), new)]


def _changed(change: Any) -> dict[str, Any]:
    new = copy.deepcopy(_document())
    change(new)
    return new


def _schemas(doc: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = doc["components"]["schemas"]
    return schemas


def test_a_document_does_not_break_itself() -> None:
    assert breaking_changes(_document(), _document()) == []


def test_additions_clients_may_ignore_are_not_breaks() -> None:
    def add(doc: dict[str, Any]) -> None:
        doc["paths"]["/v1/experiments"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        doc["paths"]["/v1/runs"]["get"]["parameters"].append(
            {"name": "tag", "in": "query", "schema": {"type": "string"}}
        )
        doc["paths"]["/v1/runs"]["get"]["responses"]["409"] = {"description": "new error"}
        _schemas(doc)["Run"]["properties"]["owner"] = {"type": "string"}
        _schemas(doc)["Create"]["properties"]["owner"] = {"type": "string"}
        _schemas(doc)["Create"]["properties"]["kind"]["enum"].append("c")
        _schemas(doc)["Create"]["properties"]["name"]["maxLength"] = 500
        _schemas(doc)["Create"]["properties"]["count"] = {"type": "number"}

    assert _codes(_changed(add)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"].pop("post"),
            [("operation-removed", "POST /v1/runs")],
            id="operation removed",
        ),
        pytest.param(
            lambda doc: doc["paths"].pop("/v1/runs/{run_id}"),
            [("operation-removed", "DELETE /v1/runs/{run_id}")],
            id="path removed",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"]["get"]["parameters"].pop(0),
            [("parameter-removed", "GET /v1/runs query parameter page_size")],
            id="parameter removed",
        ),
        pytest.param(
            lambda doc: doc["components"]["parameters"]["Status"].update(required=True),
            [("parameter-became-required", "GET /v1/runs query parameter status")],
            id="parameter became required (through $ref)",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"]["post"].update(
                parameters=[
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ]
            ),
            [("parameter-required-added", "POST /v1/runs header parameter if-match")],
            id="required header added",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs/{run_id}"]["delete"].update(
                requestBody={"required": True, "content": {"application/json": {"schema": {}}}}
            ),
            [("request-body-required-added", "DELETE /v1/runs/{run_id} request body")],
            id="request body required added",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["required"].append("kind"),
            [("property-required-added", "POST /v1/runs request body application/json.kind")],
            id="body field became required",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["properties"].pop("count"),
            [("request-property-removed", "POST /v1/runs request body application/json.count")],
            id="body field removed from a closed model",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["properties"]["kind"]["enum"].remove("b"),
            [("enum-narrowed", "POST /v1/runs request body application/json.kind")],
            id="request enum narrowed",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["properties"].update(note={"type": "string"}),
            [("type-narrowed", "POST /v1/runs request body application/json.note")],
            id="request type narrowed (null refused)",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["properties"]["name"].update(maxLength=100),
            [("limit-narrowed", "POST /v1/runs request body application/json.name")],
            id="request limit narrowed",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Create"]["properties"]["name"].update(pattern="^[a-z]+$"),
            [("pattern-changed", "POST /v1/runs request body application/json.name")],
            id="request pattern added",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"]["get"]["parameters"][0].update(
                schema={"type": "integer", "maximum": 100}
            ),
            [("limit-narrowed", "GET /v1/runs query parameter page_size")],
            id="parameter limit narrowed",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs/{run_id}"]["delete"]["responses"].update(
                {"200": doc["paths"]["/v1/runs/{run_id}"]["delete"]["responses"].pop("204")}
            ),
            [("response-status-removed", "DELETE /v1/runs/{run_id} response 204")],
            id="status code changed",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Run"]["properties"].pop("note"),
            [
                ("response-field-removed", "GET /v1/runs response 200 body[].note"),
                ("response-field-removed", "POST /v1/runs response 201 body.note"),
            ],
            id="optional response field removed",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Run"]["required"].remove("tags"),
            [
                ("response-field-became-optional", "GET /v1/runs response 200 body[].tags"),
                ("response-field-became-optional", "POST /v1/runs response 201 body.tags"),
            ],
            id="response field became optional",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Status"]["enum"].append("archived"),
            [
                ("response-enum-widened", "GET /v1/runs response 200 body[].status"),
                ("response-enum-widened", "POST /v1/runs response 201 body.status"),
            ],
            id="response enum widened",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Run"]["properties"].update(
                name={"anyOf": [{"type": "string"}, {"type": "null"}]}
            ),
            [
                ("response-type-widened", "GET /v1/runs response 200 body[].name"),
                ("response-type-widened", "POST /v1/runs response 201 body.name"),
            ],
            id="response type widened (now nullable)",
        ),
        pytest.param(
            lambda doc: _schemas(doc)["Run"]["properties"]["tags"].update(
                items={"type": "integer"}
            ),
            [
                ("response-type-widened", "GET /v1/runs response 200 body[].tags[]"),
                ("response-type-widened", "POST /v1/runs response 201 body.tags[]"),
            ],
            id="response item type changed",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"]["get"]["responses"]["200"].pop("headers"),
            [("response-header-removed", "GET /v1/runs response 200 header ETag")],
            id="response header removed",
        ),
        pytest.param(
            lambda doc: doc["paths"]["/v1/runs"]["get"]["responses"].pop("404"),
            [("response-status-removed", "GET /v1/runs response 404")],
            id="declared error status removed",
        ),
    ],
)
def test_each_kind_of_break_is_named(change: Any, expected: list[tuple[str, str]]) -> None:
    assert _codes(_changed(change)) == sorted(expected, key=lambda item: (item[1], item[0]))


def test_a_parameter_losing_null_is_not_a_break() -> None:
    # FastAPI declares an optional parameter anyOf [X, null]; a parameter is never null (a
    # query string or header has no null), so declaring it plain X refuses nothing.
    def nullable(doc: dict[str, Any]) -> None:
        doc["components"]["parameters"]["Status"]["schema"] = {
            "anyOf": [{"type": "string", "maxLength": 10}, {"type": "null"}],
            "default": None,
        }

    def plain(doc: dict[str, Any]) -> None:
        doc["components"]["parameters"]["Status"]["schema"] = {"type": "string", "maxLength": 10}

    assert breaking_changes(_changed(nullable), _changed(plain)) == []

    # The rest of the schema is still compared, and a body field losing null still breaks.
    def narrower(doc: dict[str, Any]) -> None:
        doc["components"]["parameters"]["Status"]["schema"] = {"type": "string", "maxLength": 5}

    found = [(b.code, b.where) for b in breaking_changes(_changed(nullable), _changed(narrower))]
    assert found == [("limit-narrowed", "GET /v1/runs query parameter status")]

    def note_not_null(doc: dict[str, Any]) -> None:
        _schemas(doc)["Create"]["properties"]["note"] = {"type": "string"}

    found = [(b.code, b.where) for b in breaking_changes(_document(), _changed(note_not_null))]
    assert found == [("type-narrowed", "POST /v1/runs request body application/json.note")]


def test_a_recursive_schema_is_compared_once_per_level() -> None:
    # Run.parent refers to Run itself: the checker stops instead of recursing for ever, and a
    # break inside the cycle is still found at the first level.
    new = _changed(lambda doc: _schemas(doc)["Run"]["properties"].pop("id"))
    wheres = {found.where for found in breaking_changes(_document(), new)}
    assert "GET /v1/runs response 200 body[].id" in wheres


def test_a_break_reads_as_one_line() -> None:
    found = Break("GET /v1/runs", "operation-removed", "the operation is gone")
    assert str(found) == "operation-removed: GET /v1/runs: the operation is gone"


def test_a_list_of_names_that_accepts_one_more_is_not_a_break() -> None:
    # The export's `fields`: a new field of the read model widens the pattern's alternatives.
    def names(*known: str) -> Any:
        field = f" *({'|'.join(known)}) *"

        def change(doc: dict[str, Any]) -> None:
            _schemas(doc)["Create"]["properties"]["name"]["pattern"] = f"^{field}(,{field})*$"

        return change

    old, widened, narrowed = _document(), _document(), _document()
    names("id", "tags")(old)
    names("id", "tags", "sensors")(widened)
    names("id")(narrowed)
    assert breaking_changes(old, widened) == []
    assert [(found.code, found.where) for found in breaking_changes(old, narrowed)] == [
        ("pattern-changed", "POST /v1/runs request body application/json.name")
    ]
