"""The OpenAPI document, generated from the marshmallow schemas with apispec.

Views declare their contract with `@doc(...)`; `build_spec(app)` walks the URL map and documents
every decorated view under `/api/v1` (any blueprint), so new routes only need the decorator.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from schemas.api import ErrorResponseSchema

_ATTR = "_w365_openapi"
_PATH_PARAM = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 415, 422)
HEADER_MAX_LENGTH = 100  # a documented header is a run key at most (Idempotency-Key: 1-100 characters)

SchemaLike = type[Schema] | Schema


def doc(*, summary: str, tags: tuple[str, ...] = ("invoicing",), body: SchemaLike | None = None,
        query: SchemaLike | None = None, responses: dict[int, SchemaLike | str] | None = None,
        headers: dict[str, str] | None = None, security: bool = True,
        content_types: dict[int, str] | None = None) -> Callable:
    """Attach an OpenAPI operation to a view (responses: status -> schema, or a description)."""

    def decorate(view: Callable) -> Callable:
        setattr(view, _ATTR, {
            "summary": summary, "tags": list(tags), "body": body, "query": query,
            "responses": responses or {}, "headers": headers or {}, "security": security,
            "content_types": content_types or {},
        })
        return view

    return decorate


def _schema_ref(schema: SchemaLike) -> Any:
    return schema if isinstance(schema, Schema) else schema()


def _operation(meta: dict[str, Any], path_params: list[str]) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}} for name in path_params
    ]
    if meta["query"] is not None:
        parameters.append({"in": "query", "schema": _schema_ref(meta["query"])})
    for name, description in meta["headers"].items():
        parameters.append({"in": "header", "name": name, "required": False, "description": description,
                           "schema": {"type": "string", "minLength": 1, "maxLength": HEADER_MAX_LENGTH}})
    op: dict[str, Any] = {"summary": meta["summary"], "tags": meta["tags"], "parameters": parameters,
                          "responses": {}}
    if meta["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _schema_ref(meta["body"])}}}
    for status, schema in meta["responses"].items():
        if isinstance(schema, str):
            content_type = meta["content_types"].get(status)
            entry: dict[str, Any] = {"description": schema}
            if content_type:
                entry["content"] = {content_type: {"schema": {"type": "string"}}}
            op["responses"][str(status)] = entry
        else:
            op["responses"][str(status)] = {"description": "OK" if status < 300 else "error",
                                            "content": {"application/json": {"schema": _schema_ref(schema)}}}
    for status in _ERROR_STATUSES:
        op["responses"].setdefault(str(status), {"$ref": "#/components/responses/Error"})
    if not meta["security"]:
        op["security"] = []
    return op


def build_spec(app: Flask, prefix: str = "/api/v1") -> dict[str, Any]:
    """The OpenAPI 3 document of every `@doc`-decorated route under `prefix`."""
    spec = APISpec(title="w365-invoicing", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Generate Invoice for Dynamics 365 billing contracts (docs/interfaces.md)."},
                   servers=[{"url": "/"}])
    spec.components.schema("Error", schema=ErrorResponseSchema)
    spec.components.response("Error", {"description": "the shared error shape",
                                       "content": {"application/json": {"schema": "Error"}}})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(prefix):
            continue
        meta = getattr(app.view_functions.get(rule.endpoint), _ATTR, None)
        if meta is None:
            continue
        path = _PATH_PARAM.sub(r"{\1}", rule.rule)
        names = _PATH_PARAM.findall(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(meta, names)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["security"] = [{"bearer": []}, {"apiKey": []}, {}]
    return document
