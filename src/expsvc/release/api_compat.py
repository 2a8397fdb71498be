"""Does a newer OpenAPI document break clients of an older one? (docs/adr/0021)

Compares two OpenAPI 3.1 documents, ``$ref`` resolved, operation by operation, and names every
change a client built from the older one could trip on:

- what a client sends must still be accepted: no operation, parameter or request-body field it
  may send is gone; nothing it was free to omit (parameter, header, body, body field) became
  required; no type, enum or limit it could send was narrowed;
- what a client receives must still be understood: no status code it was told to expect is
  gone; no response field it reads is gone or became optional; no type was widened (a new
  ``null``) and no enum gained a value its generated client would refuse.

It is deliberately a small checker: the maintained diff tools are a Go binary (not in Debian)
or npm packages that download a binary at install time, neither of which runs offline here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Limits whose larger value accepts more, and whose smaller value accepts more.
_UPPER_LIMITS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER_LIMITS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


@dataclass(frozen=True, order=True)
class Break:
    """One incompatible change: ``code`` names its kind, ``where`` the operation and the spot in
    it (e.g. ``GET /v1/runs response 200 body.items[].status``)."""

    where: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.where}: {self.detail}"


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[Break]:
    """Every change of ``new`` that breaks a client of ``old``, sorted."""
    return sorted(_Comparison(old, new).operations())


class _Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new
        self.breaks: list[Break] = []

    def operations(self) -> list[Break]:
        new_paths = self.new.get("paths", {})
        for path, old_item in self.old.get("paths", {}).items():
            for method in _METHODS:
                if method not in old_item:
                    continue
                where = f"{method.upper()} {path}"
                new_operation = new_paths.get(path, {}).get(method)
                if new_operation is None:
                    self._add(where, "operation-removed", "the operation is gone")
                    continue
                self._operation(where, old_item, new_paths[path], method)
        return self.breaks

    def _add(self, where: str, code: str, detail: str) -> None:
        self.breaks.append(Break(where, code, detail))

    # --- one operation ----------------------------------------------------------------------

    def _operation(self, where: str, old_item: Schema, new_item: Schema, method: str) -> None:
        old_op, new_op = old_item[method], new_item[method]
        self._parameters(where, _parameters(self.old, old_item, old_op), self.new, new_item, new_op)
        self._request_body(where, old_op.get("requestBody"), new_op.get("requestBody"))
        self._responses(where, old_op.get("responses", {}), new_op.get("responses", {}))

    def _parameters(
        self,
        where: str,
        old_params: dict[tuple[str, str], Schema],
        new_doc: dict[str, Any],
        new_item: Schema,
        new_op: Schema,
    ) -> None:
        new_params = _parameters(new_doc, new_item, new_op)
        for key, old_param in old_params.items():
            place = f"{where} {key[0]} parameter {key[1]}"
            new_param = new_params.get(key)
            if new_param is None:
                self._add(place, "parameter-removed", "a parameter clients send is gone")
                continue
            if new_param.get("required") and not old_param.get("required"):
                self._add(place, "parameter-became-required", "clients could omit it")
            # A parameter is present with a value or absent, never null (a query string or a
            # header has no null): FastAPI writes an optional one as ``anyOf [X, null]``, and
            # dropping that ``null`` refuses nothing a client could send.
            old_schema = _never_null(self.old, old_param.get("schema", {}))
            self._accepts(place, old_schema, new_param.get("schema", {}))
        for key, new_param in new_params.items():
            if key not in old_params and new_param.get("required"):
                place = f"{where} {key[0]} parameter {key[1]}"
                self._add(place, "parameter-required-added", "a new parameter is required")

    def _request_body(self, where: str, old_body: Schema | None, new_body: Schema | None) -> None:
        place = f"{where} request body"
        old_body = _deref(self.old, old_body) if old_body else None
        new_body = _deref(self.new, new_body) if new_body else None
        if new_body is None:
            return  # a body clients send that is now ignored is not refused
        if old_body is None:
            if new_body.get("required"):
                self._add(place, "request-body-required-added", "a body is now required")
            return
        if new_body.get("required") and not old_body.get("required"):
            self._add(place, "request-body-became-required", "clients could omit the body")
        new_content = new_body.get("content", {})
        for media, old_media in old_body.get("content", {}).items():
            if media not in new_content:
                self._add(place, "request-media-type-removed", f"{media} is no longer accepted")
                continue
            self._accepts(
                f"{place} {media}",
                old_media.get("schema", {}),
                new_content[media].get("schema", {}),
            )

    def _responses(self, where: str, old_responses: Schema, new_responses: Schema) -> None:
        for status, old_response in old_responses.items():
            place = f"{where} response {status}"
            if status not in new_responses:
                self._add(place, "response-status-removed", "clients expect this status code")
                continue
            old_response = _deref(self.old, old_response)
            new_response = _deref(self.new, new_responses[status])
            new_content = new_response.get("content", {})
            for media, old_media in old_response.get("content", {}).items():
                if media not in new_content:
                    self._add(place, "response-media-type-removed", f"{media} is no longer sent")
                    continue
                self._produces(
                    f"{place} body",
                    old_media.get("schema", {}),
                    new_content[media].get("schema", {}),
                )
            new_headers = new_response.get("headers", {})
            for header in old_response.get("headers", {}):
                if header not in new_headers:
                    self._add(f"{place} header {header}", "response-header-removed", "gone")

    # --- schemas ----------------------------------------------------------------------------

    def _accepts(
        self, where: str, old: Schema, new: Schema, seen: frozenset[Any] = frozenset()
    ) -> None:
        """``new`` (what the server accepts now) must accept every value ``old`` allowed."""
        old, new = _deref(self.old, old), _deref(self.new, new)
        old_types, new_types = _types(self.old, old), _types(self.new, new)
        if new_types and (not old_types or not _covered(old_types, new_types)):
            self._add(where, "type-narrowed", f"{_show(old_types)} → {_show(new_types)}")
        old_enum, new_enum = _enum(self.old, old), _enum(self.new, new)
        if new_enum is not None and (old_enum is None or not old_enum <= new_enum):
            lost = sorted(map(str, (old_enum or set()) - new_enum)) or ["any value"]
            self._add(where, "enum-narrowed", f"no longer accepted: {', '.join(lost)}")
        self._limits(where, _only(self.old, old), _only(self.new, new))
        old_object, new_object = _object(self.old, old), _object(self.new, new)
        if old_object is not None and new_object is not None:
            # A schema that contains itself (Run.parent) is compared at its first level only.
            pair = (id(old_object), id(new_object))
            if pair not in seen:
                self._accepts_object(where, old_object, new_object, seen | {pair})
        old_items, new_items = _items(self.old, old), _items(self.new, new)
        if old_items is not None and new_items is not None:
            self._accepts(f"{where}[]", old_items, new_items, seen)

    def _accepts_object(self, where: str, old: Schema, new: Schema, seen: frozenset[Any]) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(new_required - old_required):
            self._add(f"{where}.{name}", "property-required-added", "clients could omit it")
        closed = new.get("additionalProperties") is False
        for name, old_prop in old_props.items():
            if name in new_props:
                self._accepts(f"{where}.{name}", old_prop, new_props[name], seen)
            elif closed:
                self._add(f"{where}.{name}", "request-property-removed", "now refused")

    def _limits(self, where: str, old: Schema, new: Schema) -> None:
        for name in _UPPER_LIMITS:
            if name in new and (name not in old or new[name] < old[name]):
                self._add(where, "limit-narrowed", f"{name} {old.get(name, 'none')} → {new[name]}")
        for name in _LOWER_LIMITS:
            if name in new and (name not in old or new[name] > old[name]):
                self._add(where, "limit-narrowed", f"{name} {old.get(name, 'none')} → {new[name]}")
        if (
            "pattern" in new
            and new.get("pattern") != old.get("pattern")
            and not _alternatives_widened(old.get("pattern"), new["pattern"])
        ):
            self._add(where, "pattern-changed", f"{old.get('pattern')!r} → {new['pattern']!r}")

    def _produces(
        self, where: str, old: Schema, new: Schema, seen: frozenset[Any] = frozenset()
    ) -> None:
        """Every value ``new`` (what the server sends now) may hold, ``old`` described."""
        old, new = _deref(self.old, old), _deref(self.new, new)
        old_types, new_types = _types(self.old, old), _types(self.new, new)
        if old_types and (not new_types or not _covered(new_types, old_types)):
            self._add(where, "response-type-widened", f"{_show(old_types)} → {_show(new_types)}")
        old_enum, new_enum = _enum(self.old, old), _enum(self.new, new)
        if old_enum is not None and (new_enum is None or not new_enum <= old_enum):
            added = sorted(map(str, (new_enum or set()) - old_enum)) or ["any value"]
            self._add(where, "response-enum-widened", f"new values: {', '.join(added)}")
        old_object, new_object = _object(self.old, old), _object(self.new, new)
        pair = (id(old_object), id(new_object))
        if old_object is not None and new_object is not None and pair not in seen:
            seen = seen | {pair}
            old_props, new_props = (
                old_object.get("properties", {}),
                new_object.get("properties", {}),
            )
            new_required = set(new_object.get("required", ()))
            for name in old_object.get("required", ()):
                if name not in new_props:
                    self._add(f"{where}.{name}", "response-field-removed", "clients read it")
                elif name not in new_required:
                    self._add(f"{where}.{name}", "response-field-became-optional", "may be absent")
            for name, old_prop in old_props.items():
                if name in new_props:
                    self._produces(f"{where}.{name}", old_prop, new_props[name], seen)
                elif name not in old_object.get("required", ()):
                    self._add(f"{where}.{name}", "response-field-removed", "clients read it")
        old_items, new_items = _items(self.old, old), _items(self.new, new)
        if old_items is not None and new_items is not None:
            self._produces(f"{where}[]", old_items, new_items, seen)


# --- reading a document ---------------------------------------------------------------------


def _deref(doc: dict[str, Any], node: Schema) -> Schema:
    """``node`` with its ``$ref`` chain followed (local references only)."""
    hops = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref are supported: {ref}")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
        hops += 1
        if hops > 50:
            raise ValueError(f"$ref cycle at {ref}")
    return node


def _parameters(
    doc: dict[str, Any], item: Schema, operation: Schema
) -> dict[tuple[str, str], Schema]:
    """The operation's parameters by (in, name); the operation's override the path's."""
    found: dict[tuple[str, str], Schema] = {}
    for raw in [*item.get("parameters", ()), *operation.get("parameters", ())]:
        param = _deref(doc, raw)
        name = param["name"].lower() if param["in"] == "header" else param["name"]
        found[(param["in"], name)] = param
    return found


def _never_null(doc: dict[str, Any], schema: Schema) -> Schema:
    """``schema`` without its ``null`` alternative (the other keywords kept), as a parameter's
    schema is read: when one alternative is left, that one."""
    schema = _deref(doc, schema)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives is not None:
        kept = [a for a in alternatives if _deref(doc, a).get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "default")}
        if len(kept) == 1:
            return {**_deref(doc, kept[0]), **rest}
        key = "anyOf" if "anyOf" in schema else "oneOf"
        return {**rest, key: kept}
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        kept_types = [k for k in kind if k != "null"]
        return {**schema, "type": kept_types[0] if len(kept_types) == 1 else kept_types}
    return schema


def _variants(doc: dict[str, Any], schema: Schema) -> Iterator[Schema]:
    """The alternatives of a schema (``anyOf``/``oneOf`` flattened), ``$ref`` resolved."""
    schema = _deref(doc, schema)
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives is None:
        yield schema
        return
    for alternative in alternatives:
        yield from _variants(doc, alternative)


def _types(doc: dict[str, Any], schema: Schema) -> set[str]:
    """The JSON types a schema allows; empty when it allows any (no ``type`` on some variant)."""
    found: set[str] = set()
    for variant in _variants(doc, schema):
        kind = variant.get("type")
        if kind is None:
            if "const" in variant:
                found.add(_json_type(variant["const"]))
                continue
            if "enum" in variant:
                found |= {_json_type(value) for value in variant["enum"]}
                continue
            return set()
        found |= set(kind) if isinstance(kind, list) else {kind}
    return found


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _covered(narrow: set[str], wide: set[str]) -> bool:
    """Every type of ``narrow`` is one of ``wide`` (an integer is a number)."""
    return all(kind in wide or (kind == "integer" and "number" in wide) for kind in narrow)


def _enum(doc: dict[str, Any], schema: Schema) -> set[Any] | None:
    """The values a schema allows when they are enumerated (``null`` of a nullable enum
    aside), else None."""
    values: set[Any] = set()
    for variant in _variants(doc, schema):
        if variant.get("type") == "null":
            continue
        if "const" in variant:
            values.add(variant["const"])
        elif "enum" in variant:
            values |= {value for value in variant["enum"] if value is not None}
        else:
            return None
    return values


def _only(doc: dict[str, Any], schema: Schema) -> Schema:
    """The one non-null variant of a schema (where limits live), or an empty schema."""
    variants = [v for v in _variants(doc, schema) if v.get("type") != "null"]
    return variants[0] if len(variants) == 1 else {}


def _object(doc: dict[str, Any], schema: Schema) -> Schema | None:
    objects = [v for v in _variants(doc, schema) if v.get("type") == "object" or "properties" in v]
    return objects[0] if len(objects) == 1 else None


def _items(doc: dict[str, Any], schema: Schema) -> Schema | None:
    arrays = [v for v in _variants(doc, schema) if v.get("type") == "array" and "items" in v]
    return arrays[0]["items"] if len(arrays) == 1 else None


def _show(types: set[str]) -> str:
    return "|".join(sorted(types)) or "any"


# A group of plain alternatives in a pattern, ``(id|name|tags)``: the export's ``fields``.
_ALTERNATIVES = re.compile(r"\(([A-Za-z0-9_]+(?:\|[A-Za-z0-9_]+)*)\)")


def _alternatives_widened(old: str | None, new: str) -> bool:
    """``new`` is ``old`` with names added to its groups of plain alternatives (a field list
    that accepts one more name): it accepts every value ``old`` did."""
    if old is None:
        return False
    old_groups, new_groups = _ALTERNATIVES.findall(old), _ALTERNATIVES.findall(new)
    if not old_groups or len(old_groups) != len(new_groups):
        return False
    if _ALTERNATIVES.sub("()", old) != _ALTERNATIVES.sub("()", new):
        return False
    return all(
        set(before.split("|")) <= set(after.split("|"))
        for before, after in zip(old_groups, new_groups, strict=True)
    )
